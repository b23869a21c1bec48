import { expect, test } from "bun:test";
import { BURST_CHANGES, CoalescingWindow, SettleBatch } from "../../src/events/window.ts";
import { FakeTimers } from "../support/fake-timers.ts";

/** A window on a fake clock; `at` holds the fake time of each delivery. */
function harness(windowMs: number, ready = () => true, maxWindowMs = 250) {
  const clock = new FakeTimers();
  const at: number[] = [];
  const c = new CoalescingWindow({ windowMs, maxWindowMs }, () => ready(), () => at.push(clock.now()), clock);
  return { c, at, clock };
}

/** One read that brought `n` changes. */
function read(c: CoalescingWindow, n = 1): void {
  for (let i = 0; i < n; i++) c.mark();
  c.settle();
}

test("the first change after a quiet period is delivered at once, synchronously", () => {
  const { c, at } = harness(50);
  read(c);
  expect(at).toEqual([0]);
  c.cancel();
});

test("nothing changed: nothing delivered, no window opened", () => {
  const { c, at, clock } = harness(50);
  c.settle();
  c.mark();
  c.clear();
  c.settle();
  expect(at).toHaveLength(0);
  expect(clock.pending).toBe(0);
});

test("changes inside the window become one delivery once the window is quiet", () => {
  const { c, at, clock } = harness(20);
  read(c);
  for (let i = 0; i < 100; i++) read(c);
  expect(at).toHaveLength(1);
  clock.advance(19);
  expect(at).toHaveLength(1);
  clock.advance(1);
  expect(at).toEqual([0, 20]);
  c.cancel();
});

test("a window is extended while changes keep coming: a burst slower than one read is still one batch", () => {
  const { c, at, clock } = harness(80);
  read(c);
  // Changes every 10 ms for 100 ms: each moves the window's end, none lets it close.
  for (let i = 0; i < 10; i++) {
    clock.advance(10);
    read(c, 3);
  }
  expect(at).toHaveLength(1);
  clock.advance(79);
  expect(at).toHaveLength(1);
  clock.advance(1);
  expect(at).toEqual([0, 180]); // 80 ms after the last change, at 100 ms
  c.cancel();
});

test("a storm is still delivered at least every maxWindowMs", () => {
  const { c, at, clock } = harness(60, () => true, 120);
  read(c);
  while (at.length < 3) {
    clock.advance(5);
    read(c);
  }
  // Two windows closed by the cap, not by quiet.
  expect(at).toEqual([0, 120, 240]);
  c.cancel();
});

test("many changes in one read after a quiet period open a window instead of going out half-applied", () => {
  const { c, at, clock } = harness(20);
  read(c, BURST_CHANGES + 1);
  expect(at).toHaveLength(0);
  read(c, 500); // the rest of the burst
  expect(at).toHaveLength(0);
  clock.advance(20);
  expect(at).toEqual([20]);
  c.cancel();
});

test("a few changes in one read are still delivered at once", () => {
  const { c, at } = harness(20);
  read(c, BURST_CHANGES);
  expect(at).toHaveLength(1);
  c.cancel();
});

test("not ready holds delivery until settled again", () => {
  let ok = false;
  const { c, at } = harness(0, () => ok);
  read(c);
  expect(at).toHaveLength(0);
  ok = true;
  c.settle();
  expect(at).toHaveLength(1);
});

test("not ready when the window closes: delivered at the next settle", () => {
  let ok = true;
  const { c, at, clock } = harness(10, () => ok);
  read(c);
  read(c);
  ok = false;
  clock.advance(40); // the window closed while not ready
  expect(at).toHaveLength(1);
  ok = true;
  c.settle();
  expect(at).toEqual([0, 40]);
  c.cancel();
});

test("window 0 delivers on every settle, bursts included", () => {
  const { c, at, clock } = harness(0);
  for (let i = 0; i < 3; i++) read(c, i === 1 ? 100 : 1);
  expect(at).toHaveLength(3);
  expect(clock.pending).toBe(0);
});

test("cancel drops the window and what waited in it", () => {
  const { c, at, clock } = harness(20);
  read(c);
  read(c);
  c.cancel();
  clock.advance(100);
  expect(at).toHaveLength(1);
  expect(clock.pending).toBe(0);
});

test("settle batch: triggers arriving together run once, with all their reasons, settleMs after the first", () => {
  const clock = new FakeTimers();
  const runs: { at: number; reasons: string[] }[] = [];
  const b = new SettleBatch<"a" | "b">(50, (reasons) => runs.push({ at: clock.now(), reasons }), clock);
  b.fire("a");
  clock.advance(30);
  b.fire("b");
  b.fire("a");
  expect(runs).toHaveLength(0);
  clock.advance(20);
  expect(runs).toEqual([{ at: 50, reasons: ["a", "b"] }]);
  b.fire("b");
  clock.advance(50);
  expect(runs[1]).toEqual({ at: 100, reasons: ["b"] });
  b.fire("a");
  b.cancel();
  clock.advance(100);
  expect(runs).toHaveLength(2);
});
