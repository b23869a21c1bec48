// native/ pieces of the lifecycle: the CANCEL_ON_SET timerfd (with a real clock step, as root),
// sd_notify helpers, and pruning of stale keys.
import { describe, expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { openNotifier, watchdogUsec } from "../../native/sd-notify.ts";
import { watchClockJumps } from "../../native/timerfd.ts";
import { stepClockInPlace } from "../support/native/test-libc.ts";

function openTimerfds(): number {
  return readdirSync("/proc/self/fd").filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).includes("timerfd");
    } catch {
      return false;
    }
  }).length;
}
const canSetClock = process.getuid?.() === 0;
if (!canSetClock) console.log("skip real clock-step test: not root (clock_settime needs CAP_SYS_TIME)");

describe("clock-jump timerfd", () => {
  test.skipIf(!canSetClock)("a step of CLOCK_REALTIME is reported once per step; close releases the fd", async () => {
    const before = openTimerfds();
    let jumps = 0;
    let onJump: () => void = () => {};
    const errors: string[] = [];
    const w = watchClockJumps(() => {
      jumps++;
      onJump();
    }, (m) => errors.push(m));
    expect(openTimerfds()).toBe(before + 1);
    for (let i = 1; i <= 2; i++) {
      const seen = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`jump ${i} not reported within 2 s`)), 2000);
        onJump = () => (clearTimeout(t), resolve());
      });
      if (!stepClockInPlace()) throw new Error("clock_settime failed although root");
      await seen;
      expect(jumps).toBe(i);
    }
    w.close();
    // The fd is closed once the Worker has let go of it (it is woken by expiring the timer).
    const deadline = performance.now() + 2000;
    while (openTimerfds() > before && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(openTimerfds()).toBe(before);
    expect(errors).toEqual([]);
  });

  test("close right after creation leaves no fd behind", async () => {
    const before = openTimerfds();
    for (let i = 0; i < 5; i++) watchClockJumps(() => {}).close();
    const deadline = performance.now() + 2000;
    while (openTimerfds() > before && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(openTimerfds()).toBe(before);
  });
});

describe("sd_notify helpers", () => {
  test("no NOTIFY_SOCKET: inactive; vsock and relative paths are refused", () => {
    expect(openNotifier({}).active).toBe(false);
    expect(openNotifier({}).notify("READY=1")).toBe(false);
    expect(() => openNotifier({ NOTIFY_SOCKET: "vsock:2:1234" })).toThrow(/not a Unix socket path/);
    expect(() => openNotifier({ NOTIFY_SOCKET: "/nonexistent/notify" })).toThrow();
  });

  test("WATCHDOG_USEC, honouring WATCHDOG_PID", () => {
    expect(watchdogUsec({})).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000" }, 42)).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "43" }, 42)).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: "0" })).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: "soon" })).toBeUndefined();
  });
});
