import { expect, test } from "bun:test";
import { deepEqual } from "../../src/events/equal.ts";
import { Latest } from "../../src/events/latest.ts";
import { Warner } from "../../src/events/warner.ts";
import type { Logger } from "../../src/log/logger.ts";

function recordingLog() {
  const lines: string[] = [];
  const log = {
    warn: (m: string) => lines.push(`warn ${m}`),
    debug: (m: string) => lines.push(`debug ${m}`),
    error: (m: string) => lines.push(`error ${m}`),
    info: (m: string) => lines.push(`info ${m}`),
  } as unknown as Logger;
  return { log, lines };
}

test("deepEqual compares structure, not key order; undefined keys count as absent", () => {
  expect(deepEqual({ a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 })).toBe(true);
  expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  expect(deepEqual({ a: 1 }, { a: 2 })).toBe(false);
  expect(deepEqual([1, 2], [1, 2, 3])).toBe(false);
  expect(deepEqual([], {})).toBe(false);
  expect(deepEqual(null, {})).toBe(false);
  expect(deepEqual(undefined, undefined)).toBe(true);
  expect(deepEqual({ a: null }, { a: undefined })).toBe(false);
});

test("Latest hands out a value only when it changed; a failing listener does not stop the others", () => {
  const { log, lines } = recordingLog();
  const l = new Latest<{ n: number }>({ n: 0 }, "thing", log);
  const seen: number[] = [];
  l.onChange(() => { throw new Error("boom"); });
  const off = l.onChange((v) => seen.push(v.n));
  expect(l.set({ n: 0 })).toBe(false);
  expect(l.set({ n: 1 })).toBe(true);
  l.reset({ n: 2 });
  expect(l.set({ n: 2 })).toBe(false);
  off();
  l.set({ n: 3 });
  expect(seen).toEqual([1]);
  expect(l.value).toEqual({ n: 3 });
  expect(lines.filter((x) => x === "error thing change listener failed: boom")).toHaveLength(2);
});

test("Warner: the first few are warnings, the rest debug; an episode is warned about once until over", () => {
  const { log, lines } = recordingLog();
  const w = new Warner(log, 2);
  w.episode("p", "p failed");
  w.episode("p", "p failed");
  w.over("p");
  w.episode("p", "p failed again");
  w.warn("third");
  expect(lines).toEqual(["warn p failed", "warn p failed again", "debug third"]);
  expect(w.total).toBe(3);
});
