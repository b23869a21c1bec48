// Worker body for the xenbus character device: blocks in FFI read() and posts every chunk to the
// main thread. A Worker, because the device cannot go through Bun's epoll (not a socket, FIFO or
// tty; Bun.file() on it blocks the main thread in pread or fails with ESPIPE) and a thread-pool
// read would pin one of Bun's two pool threads (bun-runtime.md §4). Blocked in read() it costs
// ~3 MB and no wake-ups. The driver's read() is a byte stream over queued replies and watch
// events (drivers/xen/xenbus/xenbus_dev_frontend.c xenbus_file_read): a chunk may hold part of a
// message or several; the main thread frames them.
import { errno, errnoName, libc } from "./libc.ts";
import type { XenbusWorkerMessage } from "./xenbus.ts";

declare const self: Worker;

const EINTR = 4;
const BUFFER_SIZE = 65536;

self.onmessage = (ev: MessageEvent<{ fd: number }>) => {
  const fd = ev.data.fd;
  const C = libc();
  const buf = new Uint8Array(BUFFER_SIZE);
  const post = (m: XenbusWorkerMessage, transfer?: ArrayBuffer[]): void => self.postMessage(m, transfer ?? []);
  for (;;) {
    const n = Number(C.read(fd, buf, BUFFER_SIZE));
    if (n > 0) {
      const copy = buf.slice(0, n);
      post({ kind: "data", bytes: copy.buffer }, [copy.buffer]);
    } else if (n === 0) {
      post({ kind: "end" });
      return;
    } else {
      const e = errno();
      if (e === EINTR) continue;
      post({ kind: "error", code: errnoName(e) });
      return;
    }
  }
};
