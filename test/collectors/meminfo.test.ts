import { describe, expect, test } from "bun:test";
import { memoryFactsFrom, parseMeminfo } from "../../src/collectors/meminfo.ts";

const SAMPLE = `MemTotal:        8039268 kB
MemFree:          356116 kB
MemAvailable:    6345828 kB
Buffers:          123 kB
HugePages_Total:       0
`;

describe("meminfo", () => {
  test("MemAvailable is free memory", () => {
    expect(memoryFactsFrom(parseMeminfo(SAMPLE))).toEqual({ totalKiB: 8039268, freeKiB: 6345828 });
  });

  test("kernels before 3.14 have no MemAvailable: MemFree is used", () => {
    expect(memoryFactsFrom(parseMeminfo("MemTotal: 1000 kB\nMemFree: 300 kB\n"))).toEqual({ totalKiB: 1000, freeKiB: 300 });
  });

  test("missing fields give no facts rather than wrong ones", () => {
    expect(memoryFactsFrom(parseMeminfo("MemFree: 300 kB\n"))).toBeUndefined();
    expect(memoryFactsFrom(parseMeminfo("MemTotal: 1000 kB\n"))).toBeUndefined();
    expect(memoryFactsFrom(parseMeminfo(""))).toBeUndefined();
  });

  test("junk lines and junk values are ignored", () => {
    const text = "MemTotal: lots kB\nMemTotal:\t2048 kB\n\0\xff garbage\nMemAvailable: -5 kB\nMemAvailable: 1e9 kB\nMemFree: 7 kB\n";
    expect(memoryFactsFrom(parseMeminfo(text))).toEqual({ totalKiB: 2048, freeKiB: 7 });
  });

  test("numbers beyond 2^53 are not believed", () => {
    expect(parseMeminfo("MemTotal: 99999999999999999999999 kB\n").has("MemTotal")).toBe(false);
    expect(parseMeminfo(`MemTotal: ${Number.MAX_SAFE_INTEGER} kB\n`).get("MemTotal")).toBe(Number.MAX_SAFE_INTEGER);
  });
});
