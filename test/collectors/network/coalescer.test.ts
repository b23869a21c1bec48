import { expect, test } from "bun:test";
import { BURST_CHANGES, Coalescer } from "../../../src/collectors/network/coalescer.ts";

/** Resolves once `n` deliveries happened (waits on the deliveries, not on a clock). */
function harness(windowMs: number, ready = () => true, maxWindowMs = 250) {
  const at: number[] = [];
  let want = 0;
  let wake: (() => void) | undefined;
  const c = new Coalescer({ windowMs, maxWindowMs }, () => ready(), () => {
    at.push(performance.now());
    if (at.length >= want) wake?.();
  });
  const deliveries = (n: number) => new Promise<void>((r) => { want = n; wake = r; if (at.length >= n) r(); });
  return { c, at, deliveries };
}

/** One read that brought `n` changes. */
function read(c: Coalescer, n = 1): void {
  for (let i = 0; i < n; i++) c.mark();
  c.settle();
}

test("the first change after a quiet period is delivered at once, synchronously", () => {
  const { c, at } = harness(50);
  read(c);
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

test("changes inside the window become one delivery once the window is quiet", async () => {
  const { c, at, deliveries } = harness(20);
  read(c);
  for (let i = 0; i < 100; i++) read(c);
  expect(at).toHaveLength(1);
  await deliveries(2);
  expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(19);
  c.cancel();
});

test("a window is extended while changes keep coming: a burst slower than one read is still one batch", async () => {
  const { c, at, deliveries } = harness(80);
  read(c);
  // Changes every 10 ms for 100 ms: each moves the window's end, none lets it close (unless the
  // machine stalls this process for 80 ms).
  for (let i = 0; i < 10; i++) {
    await Bun.sleep(10);
    read(c, 3);
  }
  expect(at).toHaveLength(1);
  const lastChange = performance.now();
  await deliveries(2);
  expect(at).toHaveLength(2);
  expect(at[1]! - lastChange).toBeGreaterThanOrEqual(75);
  c.cancel();
});

test("a storm is still delivered at least every maxWindowMs", async () => {
  const { c, at, deliveries } = harness(60, () => true, 120);
  read(c);
  const started = performance.now();
  let stop = false;
  const storm = (async () => {
    while (!stop) {
      read(c);
      await Bun.sleep(5);
    }
  })();
  await deliveries(3);
  stop = true;
  await storm;
  // Two windows closed by the cap, not by quiet: about 120 ms each (timers may run late, never early).
  expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(119);
  expect(at[2]! - started).toBeLessThan(1000);
  c.cancel();
});

test("many changes in one read after a quiet period open a window instead of going out half-applied", async () => {
  const { c, at, deliveries } = harness(20);
  read(c, BURST_CHANGES + 1);
  expect(at).toHaveLength(0);
  read(c, 500); // the rest of the burst
  expect(at).toHaveLength(0);
  await deliveries(1);
  expect(at).toHaveLength(1);
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

test("not ready when the window closes: delivered at the next settle", async () => {
  let ok = true;
  const { c, at } = harness(10, () => ok);
  read(c);
  read(c);
  ok = false;
  await Bun.sleep(40); // the window closed while not ready
  expect(at).toHaveLength(1);
  ok = true;
  c.settle();
  expect(at).toHaveLength(2);
  c.cancel();
});

test("window 0 delivers on every settle, bursts included", () => {
  const { c, at } = harness(0);
  for (let i = 0; i < 3; i++) read(c, i === 1 ? 100 : 1);
  expect(at).toHaveLength(3);
});
