// Worker entrypoint for native/fd-watch.ts: sleeps in poll() on [fd, wake eventfd] and, when the
// fd is ready, either read()s it and posts the bytes or posts the revents alone. For fds that
// Bun's epoll cannot watch:
// - the xenbus character device: not a socket, FIFO or tty, so Bun.file() on it blocks the main
//   thread in pread or fails with ESPIPE, and a thread-pool read would pin one of Bun's two pool
//   threads (bun-runtime.md §4). Its read() is a byte stream over queued replies and watch events
//   (drivers/xen/xenbus/xenbus_dev_frontend.c xenbus_file_read): a chunk may hold part of a
//   message or several; the main thread frames them. poll() is supported by the driver
//   (xenbus_file_poll).
// - a CLOCK_REALTIME CANCEL_ON_SET timerfd, whose read() fails with ECANCELED on each clock step
//   (an errno in `continueOn`: the loop goes on).
// - a procfs file such as /proc/self/mountinfo, which reports changes as POLLPRI|POLLERR (proc(5))
//   and must not be read here (readSize 0: only the revents are posted).
// A Worker blocked inside FFI never runs its event loop, so asleep it costs ~3 MB and no wake-ups
// (bun-runtime.md §3, §5, §7). A compiled binary only contains it if it is a build entrypoint.
//
// The wake eventfd is how the main thread stops us: a thread blocked in read() or poll() cannot
// be interrupted, and close() from another thread does not wake it, so the fd (for the device
// file: its kernel watches) would live on until the next event. The main thread closes the fd
// only after our "stopped", so its number cannot be reused under a read.
//
// Protocol: main → worker `FdWorkerStart` once; worker → main `FdWorkerMessage`s.
import { errno, errnoName, libc, POLLERR, POLLHUP, POLLIN, POLLNVAL } from "./libc.ts";

declare const self: Worker;

export interface FdWorkerStart {
  fd: number;
  /** An eventfd (or any fd) that becomes readable when the main thread wants us to stop. */
  wakeFd: number;
  /** poll() events to wait for on `fd`. */
  events: number;
  /** Bytes per read(); 0: do not read, post the revents. */
  readSize: number;
  /** errno names of a failed read() after which the loop goes on (ECANCELED for a timerfd). */
  continueOn: string[];
}

export type FdWorkerMessage =
  /** The Worker is about to wait: a change after this is seen. */
  | { kind: "ready" }
  | { kind: "data"; bytes: ArrayBuffer }
  | { kind: "event"; revents: number }
  /** A failed poll() or read(); unless `more`, the loop has ended. */
  | { kind: "error"; call: "poll" | "read"; errno: number; code: string; more: boolean }
  /** read() returned 0: the loop has ended. */
  | { kind: "end" }
  /** Answer to the wake fd: the Worker no longer touches the fd. */
  | { kind: "stopped" };

const EINTR = 4;
const EAGAIN = 11;
const EBADF = 9;
const POLLFD_SIZE = 8; // sizeof(struct pollfd)

function post(m: FdWorkerMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(m, transfer);
}

function run({ fd, wakeFd, events, readSize, continueOn }: FdWorkerStart): void {
  const c = libc();
  const buf = new Uint8Array(Math.max(readSize, 1));
  const pfds = new Uint8Array(2 * POLLFD_SIZE);
  const v = new DataView(pfds.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, events, true);
  v.setInt32(POLLFD_SIZE, wakeFd, true);
  v.setInt16(POLLFD_SIZE + 4, POLLIN, true);
  post({ kind: "ready" });
  for (;;) {
    v.setInt16(6, 0, true);
    v.setInt16(POLLFD_SIZE + 6, 0, true);
    if (c.poll(pfds, 2, -1) < 0) {
      const e = errno();
      if (e === EINTR) continue;
      post({ kind: "error", call: "poll", errno: e, code: errnoName(e), more: false });
      return;
    }
    if (v.getInt16(POLLFD_SIZE + 6, true) !== 0) {
      post({ kind: "stopped" });
      return;
    }
    const revents = v.getInt16(6, true) & 0xffff;
    if (revents & POLLNVAL) {
      post({ kind: "error", call: "poll", errno: EBADF, code: "EBADF", more: false });
      return;
    }
    if (readSize === 0) {
      if (revents !== 0) post({ kind: "event", revents });
      continue;
    }
    if ((revents & (events | POLLHUP | POLLERR)) === 0) continue;
    const n = Number(c.read(fd, buf, readSize));
    if (n > 0) {
      const copy = buf.slice(0, n);
      post({ kind: "data", bytes: copy.buffer }, [copy.buffer]);
      continue;
    }
    if (n === 0) {
      post({ kind: "end" });
      return;
    }
    const e = errno();
    if (e === EINTR || e === EAGAIN) continue;
    const code = errnoName(e);
    const more = continueOn.includes(code);
    post({ kind: "error", call: "read", errno: e, code, more });
    if (!more) return;
  }
}

self.onmessage = (ev: MessageEvent<FdWorkerStart>) => {
  self.onmessage = null;
  run(ev.data);
};
