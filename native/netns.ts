// Entering a named network namespace (`ip netns add <name>`) for one synchronous call, on the
// calling thread only. Used by tests and benchmarks to open the collector's socket inside a test
// namespace: a socket stays in the namespace it was created in after the thread switches back.
import { check, cstr, libc, O_CLOEXEC, O_RDONLY } from "./libc.ts";

const CLONE_NEWNET = 0x40000000; // linux/sched.h

export function withNetns<T>(name: string, fn: () => T): T {
  const c = libc();
  const target = check(c.open(cstr(`/run/netns/${name}`), O_RDONLY | O_CLOEXEC, 0), `open /run/netns/${name}`);
  const home = c.open(cstr("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0);
  try {
    check(home, "open /proc/thread-self/ns/net");
    check(c.setns(target, CLONE_NEWNET), `setns(${name})`);
    try {
      return fn();
    } finally {
      // Failing to return would leave the test process in the wrong namespace: better to crash.
      if (c.setns(home, CLONE_NEWNET) !== 0) throw new Error("setns back to the original namespace failed");
    }
  } finally {
    c.close(target);
    if (home >= 0) c.close(home);
  }
}
