// Worker entrypoint for native/fd-watch.ts: one thread for every watched fd. It sleeps in a single
// poll() over all watched fds plus a wake eventfd and, when a watched fd is ready, either read()s
// it and posts the bytes or posts the revents alone. For fds that Bun's epoll cannot watch:
// - the xenbus character device: not a socket, FIFO or tty, so Bun.file() on it blocks the main
//   thread in pread or fails with ESPIPE, and a thread-pool read would pin one of Bun's two pool
//   threads (bun-runtime.md §4). Its read() is a byte stream over queued replies and watch events
//   (drivers/xen/xenbus/xenbus_dev_frontend.c xenbus_file_read): a chunk may hold part of a
//   message or several; the main thread frames them. poll() is supported by the driver
//   (xenbus_file_poll).
// - a CLOCK_REALTIME CANCEL_ON_SET timerfd, whose read() fails with ECANCELED on each clock step
//   (an errno in `continueOn`: the watch goes on).
// - a procfs file such as /proc/self/mountinfo, which reports changes as POLLPRI|POLLERR (proc(5))
//   and must not be read here (readSize 0: only the revents are posted).
// A Worker blocked inside FFI never runs its event loop, so asleep it costs one JS VM (~3 MB) and
// no wake-ups (bun-runtime.md §3, §5, §7) — once for all fds, not once per fd. A compiled binary
// only contains it if it is a build entrypoint.
//
// Control (add / remove a watch) travels as messages, which only run on the event loop, so the
// main thread first adds 1 to the wake eventfd (EFD_SEMAPHORE) and then posts the message. poll()
// returns with the wake fd readable; the loop then returns to the event loop without scheduling
// itself again. Each message handler consumes exactly one unit of the counter (the write
// preceded the post, so it is there) and schedules the loop with setTimeout(loop, 0), which polls
// again over the new set; if another message is still on its way the counter is still positive,
// poll() returns at once and the loop yields again until that message's handler has run. So no
// message is lost or reordered, nothing spins, and no timer exists while the Worker sleeps.
// With no watch left the loop does not poll at all: the main thread can terminate() the Worker.
//
// A thread blocked in read() or poll() cannot be interrupted, and close() from another thread
// does not wake it, so the fd (for the device file: its kernel watches) would live on until the
// next event. The main thread closes a watch's fd only after our "stopped" (or the watch's own
// "end" / final "error"), so its number cannot be reused under a poll() or read().
//
// Protocol: main → worker `FdWorkerControl`s, each preceded by +1 on the wake fd (the first is
// `init`); worker → main `FdWorkerMessage`s.
import { errno, Errno, errnoName, libc, POLLERR, POLLHUP, POLLIN, POLLNVAL } from "./libc.ts";

declare const self: Worker;

export interface FdWorkerWatch {
  /** The main thread's name for the watch; every message about it carries it. */
  id: number;
  fd: number;
  /** poll() events to wait for on `fd`. */
  events: number;
  /** Bytes per read(); 0: do not read, post the revents. */
  readSize: number;
  /** errno names of a failed read() after which the watch goes on (ECANCELED for a timerfd). */
  continueOn: string[];
}

export type FdWorkerControl =
  /** First message: the eventfd (EFD_SEMAPHORE) the main thread adds 1 to before each message. */
  | { op: "init"; wakeFd: number }
  | ({ op: "add" } & FdWorkerWatch)
  /** Drop the watch from the poll set (if it is still there) and answer "stopped". */
  | { op: "remove"; id: number };

export type FdWorkerMessage =
  /** The Worker is about to wait with this watch in its set: a change after this is seen. */
  | { kind: "ready"; id: number }
  | { kind: "data"; id: number; bytes: ArrayBuffer }
  | { kind: "event"; id: number; revents: number }
  /** A failed poll() or read(); unless `more`, the watch has ended (its fd is no longer touched). */
  | { kind: "error"; id: number; call: "poll" | "read"; errno: number; code: string; more: boolean }
  /** read() returned 0: the watch has ended. */
  | { kind: "end"; id: number }
  /** Answer to `remove`: the Worker no longer touches that watch's fd. */
  | { kind: "stopped"; id: number };

const { EINTR, EAGAIN, EBADF } = Errno;
const POLLFD_SIZE = 8; // sizeof(struct pollfd)

interface Watch extends FdWorkerWatch {
  buf: Uint8Array;
  announced: boolean;
}

const c = libc();
const watches = new Map<number, Watch>();
const wakeBuf = new BigUint64Array(1);
let wakeFd = -1;
let scheduled = false;
/** The pollfd array for `order` (wake fd last); rebuilt when the set changes. */
let pfds = new Uint8Array(POLLFD_SIZE);
let view: DataView = new DataView(pfds.buffer);
let order: Watch[] = [];
let dirty = true;

function post(m: FdWorkerMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(m, transfer);
}

function drop(id: number): void {
  if (watches.delete(id)) dirty = true;
}

function rebuild(): DataView {
  order = [...watches.values()];
  pfds = new Uint8Array((order.length + 1) * POLLFD_SIZE);
  const v = new DataView(pfds.buffer);
  order.forEach((w, i) => {
    v.setInt32(i * POLLFD_SIZE, w.fd, true);
    v.setInt16(i * POLLFD_SIZE + 4, w.events, true);
  });
  v.setInt32(order.length * POLLFD_SIZE, wakeFd, true);
  v.setInt16(order.length * POLLFD_SIZE + 4, POLLIN, true);
  dirty = false;
  view = v;
  return v;
}

/** Handles one ready watch; one that ends is dropped from the set before its last message. */
function serve(w: Watch, revents: number): void {
  if (revents & POLLNVAL) {
    drop(w.id);
    post({ kind: "error", id: w.id, call: "poll", errno: EBADF, code: "EBADF", more: false });
    return;
  }
  if (w.readSize === 0) {
    post({ kind: "event", id: w.id, revents });
    return;
  }
  if ((revents & (w.events | POLLHUP | POLLERR)) === 0) return;
  const n = Number(c.read(w.fd, w.buf, w.readSize));
  if (n > 0) {
    const copy = w.buf.slice(0, n);
    post({ kind: "data", id: w.id, bytes: copy.buffer }, [copy.buffer]);
    return;
  }
  if (n === 0) {
    drop(w.id);
    post({ kind: "end", id: w.id });
    return;
  }
  const e = errno();
  if (e === EINTR || e === EAGAIN) return;
  const code = errnoName(e);
  const more = w.continueOn.includes(code);
  if (!more) drop(w.id);
  post({ kind: "error", id: w.id, call: "read", errno: e, code, more });
}

/** Polls until the wake fd says a control message is pending, then yields to the event loop. */
function loop(): void {
  scheduled = false;
  let v = view;
  for (;;) {
    if (watches.size === 0) return; // nothing to wait for: idle, so terminate() can end us
    if (dirty) v = rebuild();
    for (const w of order) {
      if (w.announced) continue;
      w.announced = true;
      post({ kind: "ready", id: w.id });
    }
    for (let i = 0; i <= order.length; i++) v.setInt16(i * POLLFD_SIZE + 6, 0, true);
    if (c.poll(pfds, order.length + 1, -1) < 0) {
      const e = errno();
      if (e === EINTR) continue;
      // poll() itself failed (ENOMEM, say): every watch ends.
      for (const w of order) post({ kind: "error", id: w.id, call: "poll", errno: e, code: errnoName(e), more: false });
      watches.clear();
      dirty = true;
      return;
    }
    const ready = order.map((w, i) => [w, v.getInt16(i * POLLFD_SIZE + 6, true) & 0xffff] as const);
    for (const [w, revents] of ready) if (revents !== 0 && watches.has(w.id)) serve(w, revents);
    // Not consumed here: each message handler takes its own unit.
    if (v.getInt16(order.length * POLLFD_SIZE + 6, true) !== 0) return;
  }
}

function control(m: FdWorkerControl): void {
  switch (m.op) {
    case "init":
      wakeFd = m.wakeFd;
      dirty = true;
      break;
    case "add":
      watches.set(m.id, { ...m, buf: new Uint8Array(Math.max(m.readSize, 1)), announced: false });
      dirty = true;
      break;
    case "remove":
      drop(m.id);
      post({ kind: "stopped", id: m.id });
      break;
  }
}

self.onmessage = (ev: MessageEvent<FdWorkerControl>) => {
  control(ev.data);
  c.read(wakeFd, wakeBuf, 8); // this message's unit (EFD_SEMAPHORE: one per read)
  if (scheduled) return;
  scheduled = true;
  setTimeout(loop, 0);
};
