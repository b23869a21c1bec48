// libc calls only tests make (entering a network namespace, stepping the clock, socket pairs): kept
// out of native/libc.ts so the agent's own unsafe surface lists only what the agent calls.
import { dlopen, FFIType } from "bun:ffi";
import { AF_UNIX, check, cstr, libc, O_CLOEXEC, O_RDONLY, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_STREAM } from "../../../native/libc.ts";

const { i32, ptr } = FFIType;
let opened: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    setns: { args: [i32, i32], returns: i32 },
    clock_settime: { args: [i32, ptr], returns: i32 },
  });
}
const testLibc = () => (opened ??= open()).symbols;

const CLONE_NEWNET = 0x40000000; // linux/sched.h

/**
 * Runs `fn` inside the named network namespace (`ip netns add <name>`), on the calling thread
 * only: a socket opened there stays in that namespace after the thread switches back.
 */
export function withNetns<T>(name: string, fn: () => T): T {
  const c = libc();
  const target = check(c.open(cstr(`/run/netns/${name}`), O_RDONLY | O_CLOEXEC, 0), `open /run/netns/${name}`);
  const home = c.open(cstr("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0);
  try {
    check(home, "open /proc/thread-self/ns/net");
    check(testLibc().setns(target, CLONE_NEWNET), `setns(${name})`);
    try {
      return fn();
    } finally {
      // Failing to return would leave the test process in the wrong namespace: better to crash.
      if (testLibc().setns(home, CLONE_NEWNET) !== 0) throw new Error("setns back to the original namespace failed");
    }
  } finally {
    c.close(target);
    if (home >= 0) c.close(home);
  }
}

/** Sets CLOCK_REALTIME to what it reads: a step of well under a microsecond, but a step. */
export function stepClockInPlace(): boolean {
  const ts = new BigInt64Array(2);
  libc().clock_gettime(0, ts);
  return testLibc().clock_settime(0, ts) === 0;
}

/** socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC), or SOCK_DGRAM: two connected blocking fds. */
export function socketPair(type: "stream" | "datagram" = "stream"): [number, number] {
  const fds = new Int32Array(2);
  check(libc().socketpair(AF_UNIX, (type === "stream" ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, fds), "socketpair");
  return [fds[0]!, fds[1]!];
}
