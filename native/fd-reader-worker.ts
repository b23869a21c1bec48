// Worker entrypoint for native/fd-reader.ts: blocks in read(2) on one fd and posts what it gets. A
// Worker blocked in an FFI call never runs its event loop, so it costs no wake-ups while idle
// (bun-runtime.md §3–§5). A compiled binary only contains it if it is a build entrypoint.
//
// Protocol: main → worker `{ fd, size, continueOn, stop: SharedArrayBuffer }` once; worker → main
//   { type: "data", data: ArrayBuffer }             n > 0 bytes (transferred)
//   { type: "error", errno, more }                  a failed read; `more`: reading goes on
//   { type: "end" }                                 read returned 0
//   { type: "stopped" }                             the stop flag was seen after a read returned
// To stop, the main thread sets the flag and makes the blocked read return (for a timerfd: arm it
// to expire now); only then does it close the fd, so the number cannot be reused under a read.
import { errno, errnoName, libc } from "./libc.ts";

declare const self: Worker;

export interface FdReadStart {
  fd: number;
  size: number;
  continueOn: string[];
  stop: SharedArrayBuffer;
}

export type FdReadMessage =
  | { type: "data"; data: ArrayBuffer }
  | { type: "error"; errno: number; code: string; more: boolean }
  | { type: "end" }
  | { type: "stopped" };

const EINTR = 4;

function run({ fd, size, continueOn, stop }: FdReadStart): void {
  const c = libc();
  const flag = new Int32Array(stop);
  const buf = new Uint8Array(size);
  for (;;) {
    const n = Number(c.read(fd, buf, size));
    const e = n < 0 ? errno() : 0;
    if (Atomics.load(flag, 0) !== 0) {
      self.postMessage({ type: "stopped" } satisfies FdReadMessage);
      return;
    }
    if (n > 0) {
      const copy = buf.slice(0, n);
      self.postMessage({ type: "data", data: copy.buffer } satisfies FdReadMessage, [copy.buffer]);
      continue;
    }
    if (n === 0) {
      self.postMessage({ type: "end" } satisfies FdReadMessage);
      return;
    }
    if (e === EINTR) continue;
    const code = errnoName(e);
    const more = continueOn.includes(code);
    self.postMessage({ type: "error", errno: e, code, more } satisfies FdReadMessage);
    if (!more) return;
  }
}

self.onmessage = (event: MessageEvent<FdReadStart>) => {
  self.onmessage = null;
  run(event.data);
};
