// Worker body for the xenbus character device: sleeps in poll() on [device, wake pipe], reads
// what the device has and posts it to the main thread. A Worker, because the device cannot go
// through Bun's epoll (not a socket, FIFO or tty; Bun.file() on it blocks the main thread in
// pread or fails with ESPIPE) and a thread-pool read would pin one of Bun's two pool threads
// (bun-runtime.md §4). Asleep it costs ~3 MB and no wake-ups.
//
// The driver's read() is a byte stream over queued replies and watch events
// (drivers/xen/xenbus/xenbus_dev_frontend.c xenbus_file_read): a chunk may hold part of a message
// or several; the main thread frames them. poll() is supported by the driver (xenbus_file_poll).
// The wake pipe is how the main thread stops us: a thread blocked in read() cannot be
// interrupted, and close() from another thread does not wake it, so the device file (and its
// kernel watches) would live on until the next event.
import { errno, errnoName, libc } from "./libc.ts";
import type { XenbusWorkerMessage } from "./xenbus.ts";

declare const self: Worker;

const EINTR = 4;
const EAGAIN = 11;
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const BUFFER_SIZE = 65536;

self.onmessage = (ev: MessageEvent<{ fd: number; wakeFd: number }>) => {
  const { fd, wakeFd } = ev.data;
  const C = libc();
  const buf = new Uint8Array(BUFFER_SIZE);
  const post = (m: XenbusWorkerMessage, transfer?: ArrayBuffer[]): void => self.postMessage(m, transfer ?? []);
  // struct pollfd[2] { int fd; short events; short revents; }
  const pfds = new Uint8Array(16);
  const v = new DataView(pfds.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, POLLIN, true);
  v.setInt32(8, wakeFd, true);
  v.setInt16(12, POLLIN, true);
  for (;;) {
    v.setInt16(6, 0, true);
    v.setInt16(14, 0, true);
    if (C.poll(pfds, 2, -1) < 0) {
      const e = errno();
      if (e === EINTR) continue;
      post({ kind: "error", code: errnoName(e) });
      return;
    }
    if (v.getInt16(14, true) !== 0) {
      post({ kind: "stopped" });
      return;
    }
    const revents = v.getInt16(6, true);
    if (revents & POLLNVAL) {
      post({ kind: "error", code: "EBADF" });
      return;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) === 0) continue;
    const n = Number(C.read(fd, buf, BUFFER_SIZE));
    if (n > 0) {
      const copy = buf.slice(0, n);
      post({ kind: "data", bytes: copy.buffer }, [copy.buffer]);
    } else if (n === 0) {
      post({ kind: "end" });
      return;
    } else {
      const e = errno();
      if (e === EINTR || e === EAGAIN) continue;
      post({ kind: "error", code: errnoName(e) });
      return;
    }
  }
};
