import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { MemoryCollector, memoryFactsFrom, parseMeminfo } from "../../src/collectors/meminfo.ts";
import { collectingLogger } from "./network/support/netns.ts";
import { FixtureRoot } from "./volumes/fixture-root.ts";

let fixtures: FixtureRoot[] = [];
afterEach(() => {
  for (const f of fixtures) f.remove();
  fixtures = [];
});

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

describe("memory read on every tick (fixture root)", () => {
  test("MemAvailable above MemTotal is clamped to MemTotal; MemTotal 0 is no fact", () => {
    expect(memoryFactsFrom(parseMeminfo("MemTotal: 1000 kB\nMemAvailable: 5000 kB\n"))).toEqual({ totalKiB: 1000, freeKiB: 1000 });
    expect(memoryFactsFrom(parseMeminfo("MemTotal: 0 kB\nMemAvailable: 5 kB\n"))).toBeUndefined();
  });

  test("meminfo turning garbage, unreadable or a FIFO keeps the last good values, with one warning", () => {
    const fx = new FixtureRoot();
    fixtures.push(fx);
    fx.file("proc/meminfo", SAMPLE);
    const log = collectingLogger();
    const c = new MemoryCollector(new HostRoot(fx.dir), log);
    const good = { totalKiB: 8039268, freeKiB: 6345828 };
    expect(c.collect()).toEqual(good);
    fx.file("proc/meminfo", "\0\xff garbage\n");
    expect(c.collect()).toEqual(good);
    rmSync(join(fx.dir, "proc/meminfo"));
    expect(c.collect()).toEqual(good);
    expect(Bun.spawnSync(["mkfifo", join(fx.dir, "proc/meminfo")]).exitCode).toBe(0);
    expect(c.collect()).toEqual(good);
    const warnings = log.lines.filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain("keeping the last memory values");
    rmSync(join(fx.dir, "proc/meminfo"));
    fx.file("proc/meminfo", "MemTotal: 2000 kB\nMemAvailable: 1500 kB\n");
    expect(c.collect()).toEqual({ totalKiB: 2000, freeKiB: 1500 });
    expect(log.lines.some((l) => l.level === "info" && l.message.includes("reads again"))).toBe(true);
  });

  test("no good read yet: nothing published, one warning", () => {
    const fx = new FixtureRoot();
    fixtures.push(fx);
    fx.file("proc/meminfo", "garbage\n");
    const log = collectingLogger();
    const c = new MemoryCollector(new HostRoot(fx.dir), log);
    expect(c.collect()).toBeUndefined();
    expect(c.collect()).toBeUndefined();
    expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(1);
  });
});
