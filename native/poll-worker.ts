// Worker entrypoint: waits in a blocking poll(2) on one fd that Bun's epoll cannot watch (a procfs
// file such as /proc/self/mountinfo, which reports changes as POLLPRI|POLLERR: proc(5)), and
// posts a message each time it becomes ready. A Worker blocked inside FFI never runs its event
// loop, so it costs no wake-ups while nothing happens (bun-runtime.md §3, §5). A second fd, an
// eventfd written by the main thread, ends the loop.
//
// Protocol: main → worker `{ fd, wakeFd, events }` once; worker → main `{ type: "ready" }`,
// `{ type: "event", revents }`, `{ type: "error", errno }` (then the loop ends), `{ type: "stopped" }`.
import { errno, libc } from "./libc.ts";

declare const self: Worker;

// struct pollfd { int fd; short events; short revents; }: 8 bytes.
const POLLFD_SIZE = 8;
const POLLIN = 0x1;
const POLLNVAL = 0x20;
const EINTR = 4;

export interface PollStart {
  fd: number;
  wakeFd: number;
  events: number;
}

export type PollMessage =
  | { type: "ready" }
  | { type: "event"; revents: number }
  | { type: "error"; errno: number }
  | { type: "stopped" };

function post(m: PollMessage): void {
  self.postMessage(m);
}

function run({ fd, wakeFd, events }: PollStart): void {
  const c = libc();
  const fds = new Uint8Array(2 * POLLFD_SIZE);
  const view = new DataView(fds.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  view.setInt32(POLLFD_SIZE, wakeFd, true);
  view.setInt16(POLLFD_SIZE + 4, POLLIN, true);
  post({ type: "ready" });
  for (;;) {
    view.setInt16(6, 0, true);
    view.setInt16(POLLFD_SIZE + 6, 0, true);
    const n = c.poll(fds, 2, -1);
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      post({ type: "error", errno: e });
      return;
    }
    if (view.getInt16(POLLFD_SIZE + 6, true) !== 0) {
      post({ type: "stopped" });
      return;
    }
    const revents = view.getInt16(6, true) & 0xffff;
    if (revents & POLLNVAL) {
      post({ type: "error", errno: 9 /* EBADF */ });
      return;
    }
    if (revents !== 0) post({ type: "event", revents });
  }
}

self.onmessage = (e: MessageEvent<PollStart>) => {
  run(e.data);
  self.onmessage = null;
};
