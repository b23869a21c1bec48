// The xenbus character device (/dev/xen/xenbus, /proc/xen/xenbus): opened on the main thread,
// read by a thread asleep in poll() (native/fd-watch.ts), written with one write() per message
// from the main thread only: the driver
// assembles a message per open file from the writes it gets (xenbus_file_write), so two
// writers' halves would interleave.
import { check, cstr, errno, Errno, libc, O_CLOEXEC, O_RDWR, SystemError } from "./libc.ts";
import { POLLIN, watchFd, type FdWatch } from "./fd-watch.ts";

export interface XenbusReaderHandlers {
  data(chunk: Uint8Array): void;
  /** read() returned 0 or failed: the reader has stopped. */
  closed(reason: string): void;
}

/**
 * The reader; its stop() wakes the watcher out of poll() and closes the fd once it has let go, so
 * the device file (and its kernel watches) does not wait for the next event to go away.
 */
export type XenbusReader = FdWatch;

const { EINTR } = Errno;

/** open(path, O_RDWR|O_CLOEXEC): blocking; the watcher reads only after poll() said readable. */
export function openXenbus(path: string): number {
  return check(libc().open(cstr(path), O_RDWR | O_CLOEXEC, 0), `open ${path}`);
}

/**
 * Watches `fd` (any pollable fd: the device, a socketpair, a pipe), which the watch then owns.
 * While it runs the process stays alive: replies are awaited on it.
 */
export function startXenbusReader(fd: number, on: XenbusReaderHandlers): XenbusReader {
  return watchFd(fd, {
    data: (chunk) => on.data(chunk),
    end: () => on.closed("end of file"),
    error: (e) => on.closed(e.call === "watcher" ? `reader failed: ${e.message}` : `read failed: ${e.code}`),
  }, { events: POLLIN, name: "xenbus" });
}

/**
 * Writes one whole message with write(). The driver takes it in one call unless it is over
 * the 4096-byte payload limit (then E2BIG/EINVAL); on other fds (tests) a short write continues.
 */
export function writeXenbus(fd: number, message: Uint8Array): void {
  const C = libc();
  let off = 0;
  while (off < message.length) {
    const chunk = off === 0 ? message : message.subarray(off);
    const n = Number(C.write(fd, chunk, chunk.length));
    if (n >= 0) {
      off += n;
      continue;
    }
    const e = errno();
    if (e !== EINTR) throw new SystemError("write", e);
  }
}

export function closeXenbus(fd: number): void {
  libc().close(fd);
}
