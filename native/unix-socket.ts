// A Unix stream socket connected with FFI socket()+connect(), written with FFI write(). Reading
// is left to native/socket-reader.ts (a thread asleep in poll(), no idle wake-ups); Bun's
// own socket layer is avoided because it wakes the process about 3×/s (bun-runtime.md §4).
import {
  Errno,
  AF_UNIX,
  check,
  errno,
  libc,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SystemError,
} from "./libc.ts";
import { sockaddrUn } from "./sockaddr-un.ts";

const { EINTR, EAGAIN } = Errno;
const POLLOUT = 4;

/** Connects to the Unix stream socket at `path`; returns the fd (blocking, close-on-exec). */
export function connectUnixSocket(path: string): number {
  const { addr, length } = sockaddrUn(path);
  const C = libc();
  const fd = check(C.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)");
  for (;;) {
    if (C.connect(fd, addr, length) === 0) return fd;
    const e = errno();
    if (e === EINTR) continue;
    C.close(fd);
    throw new SystemError(`connect ${path}`, e);
  }
}

/**
 * Writes all of `data` to the socket `fd` with send(MSG_NOSIGNAL) (write() with no SIGPIPE: a
 * peer that went away is an EPIPE error, not a dead agent). One write() nearly always takes it all (a xenstore message is at
 * most 4112 bytes); a short write continues where it stopped, and EAGAIN (the reader's dup may
 * have made the description non-blocking) waits up to `timeoutMs` for room with poll().
 */
export function writeAll(fd: number, data: Uint8Array, timeoutMs = 5000): void {
  const C = libc();
  let off = 0;
  while (off < data.length) {
    const chunk = off === 0 ? data : data.subarray(off);
    const n = Number(C.send(fd, chunk, chunk.length, MSG_NOSIGNAL));
    if (n >= 0) {
      off += n;
      continue;
    }
    const e = errno();
    if (e === EINTR) continue;
    if (e !== EAGAIN) throw new SystemError("send", e);
    const pfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
    const v = new DataView(pfd.buffer);
    v.setInt32(0, fd, true);
    v.setInt16(4, POLLOUT, true);
    if (check(C.poll(pfd, 1, timeoutMs), "poll") === 0) throw new SystemError("send", Errno.ETIMEDOUT);
  }
}

/** Closes an fd this module returned; errors (EBADF after a double close) are ignored. */
export function closeFd(fd: number): void {
  libc().close(fd);
}
