import { expect, test } from "bun:test";
import { Coalescer } from "../../src/network/coalescer.ts";

/** Resolves once `n` deliveries happened (waits on the deliveries, not on a clock). */
function harness(windowMs: number, ready = () => true) {
  const at: number[] = [];
  let want = 0;
  let wake: (() => void) | undefined;
  const c = new Coalescer(windowMs, () => ready(), () => {
    at.push(performance.now());
    if (at.length >= want) wake?.();
  });
  const deliveries = (n: number) => new Promise<void>((r) => { want = n; wake = r; if (at.length >= n) r(); });
  return { c, at, deliveries };
}

test("the first change is delivered at once, synchronously", () => {
  const { c, at } = harness(50);
  c.mark();
  c.settle();
  expect(at).toHaveLength(1);
  c.cancel();
});

test("nothing changed: nothing delivered, no window opened", () => {
  const { c, at } = harness(50);
  c.settle();
  c.mark();
  c.clear();
  c.settle();
  expect(at).toHaveLength(0);
});

test("a burst inside the window becomes one delivery at its end", async () => {
  const { c, at, deliveries } = harness(20);
  c.mark();
  c.settle();
  for (let i = 0; i < 100; i++) {
    c.mark();
    c.settle();
  }
  expect(at).toHaveLength(1);
  await deliveries(2);
  expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(15);
  c.cancel();
});

test("not ready holds delivery until settled again", () => {
  let ok = false;
  const { c, at } = harness(0, () => ok);
  c.mark();
  c.settle();
  expect(at).toHaveLength(0);
  ok = true;
  c.settle();
  expect(at).toHaveLength(1);
});

test("window 0 delivers on every settle", () => {
  const { c, at } = harness(0);
  for (let i = 0; i < 3; i++) {
    c.mark();
    c.settle();
  }
  expect(at).toHaveLength(3);
});
