import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cpuEvent, parseCpuList, parseUevents, type Uevent } from "../../../src/collectors/uevent.ts";

const DIR = join(import.meta.dir, "../../fixtures/uevent");
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".bin")).sort();
const captured = (name: string) => new Uint8Array(readFileSync(join(DIR, FILES.find((f) => f.includes(name))!)));
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("captured kernel uevents (test/fixtures/uevent, from capture.ts)", () => {
  test("every datagram parses to exactly one event, nothing malformed", () => {
    expect(FILES.length).toBeGreaterThanOrEqual(20);
    for (const f of FILES) {
      const { events, malformed } = parseUevents(new Uint8Array(readFileSync(join(DIR, f))));
      expect({ f, n: events.length, malformed }).toEqual({ f, n: 1, malformed: 0 });
      expect(events[0]!.env.get("ACTION")).toBe(events[0]!.action);
      expect(events[0]!.env.has("SEQNUM")).toBe(true);
    }
  });

  test("the CPU add event", () => {
    const ev = parseUevents(captured("add-cpu-cpu")).events[0]!;
    expect(ev.action).toBe("add");
    expect(ev.devpath).toMatch(/^\/devices\/system\/cpu\/cpu\d+$/);
    expect(ev.env.get("SUBSYSTEM")).toBe("cpu");
    expect(cpuEvent(ev)).toEqual({ cpu: Number(ev.devpath.slice(23)), action: "add" });
  });

  test("all datagrams concatenated in one chunk (as Bun.file(fd).stream() delivers them) are framed by their headers", () => {
    const all = concat(...FILES.map((f) => new Uint8Array(readFileSync(join(DIR, f)))));
    const { events, malformed } = parseUevents(all);
    expect(malformed).toBe(0);
    expect(events.map((e) => e.env.get("SEQNUM"))).toEqual(FILES.map((f) => parseUevents(new Uint8Array(readFileSync(join(DIR, f)))).events[0]!.env.get("SEQNUM")));
    const cpu = events.map(cpuEvent).filter((c) => c !== undefined);
    expect(cpu.map((c) => c.action)).toEqual(["add", "offline", "online"]);
  });

  test("cpuid devices named cpuN and net devices are not CPUs", () => {
    expect(cpuEvent(parseUevents(captured("add-cpuid-cpu")).events[0]!)).toBeUndefined();
    expect(cpuEvent(parseUevents(captured("remove-cpuid-cpu")).events[0]!)).toBeUndefined();
    expect(cpuEvent(parseUevents(captured("add-net-")).events[0]!)).toBeUndefined();
  });
});

describe("hostile input", () => {
  const ok = "add@/devices/system/cpu/cpu3\0ACTION=add\0DEVPATH=/devices/system/cpu/cpu3\0SUBSYSTEM=cpu\0SEQNUM=9\0";
  test.each([
    ["empty", "", 0, 0],
    ["only NULs", "\0\0\0", 0, 0],
    ["fields with no header", "ACTION=add\0SUBSYSTEM=cpu\0", 0, 1],
    ["binary junk", "\xff\xfe\x01\x02", 0, 1],
    ["a header with no fields", "add@/devices/system/cpu/cpu3", 1, 0],
    ["ACTION contradicts the header", "add@/devices/system/cpu/cpu3\0ACTION=remove\0", 0, 1],
    ["DEVPATH contradicts the header", "add@/devices/system/cpu/cpu3\0DEVPATH=/devices/system/cpu/cpu4\0", 0, 1],
    ["a field that is not KEY=VALUE", "add@/devices/system/cpu/cpu3\0junk\0SUBSYSTEM=cpu\0", 0, 1],
    ["an upper-case or relative header is not a header", "ADD@/x\0", 0, 1],
    ["a libudev message is skipped", "libudev\0\xfe\xed\xca\xfe\x01binary\0ACTION=add\0", 0, 0],
    ["a truncated ACTION contradicts the header", "add@/devices/system/cpu/cpu3\0ACTION=ad", 0, 1],
  ])("%s", (_, text, n, bad) => {
    const r = parseUevents(bytes(text));
    expect([r.events.length, r.malformed]).toEqual([n, bad]);
    // One bad datagram never hides a good one after it (the kernel ends every datagram with a NUL).
    const after = parseUevents(concat(bytes(text), bytes("\0"), bytes(ok)));
    expect(after.events.at(-1)?.devpath).toBe("/devices/system/cpu/cpu3");
    expect(after.events.at(-1)?.env.get("SEQNUM")).toBe("9");
  });

  test("a flood of fields in one message is dropped", () => {
    const many = Array.from({ length: 500 }, (_, i) => `K${i}=v`).join("\0");
    expect(parseUevents(bytes(`add@/x\0${many}\0`))).toEqual({ events: [], malformed: 1 });
  });

  test("a 1 MiB chunk of garbage is handled quickly", () => {
    const junk = new Uint8Array(1 << 20).map((_, i) => (i * 7919) % 251);
    const t0 = performance.now();
    parseUevents(junk);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("CPU events", () => {
  const ev = (action: string, devpath: string, subsystem = "cpu"): Uevent => ({ action, devpath, env: new Map([["SUBSYSTEM", subsystem]]) });
  test.each([
    [ev("add", "/devices/system/cpu/cpu12"), { cpu: 12, action: "add" }],
    [ev("remove", "/devices/system/cpu/cpu1"), { cpu: 1, action: "remove" }],
    [ev("online", "/devices/system/cpu/cpu1"), { cpu: 1, action: "online" }],
    [ev("change", "/devices/system/cpu/cpu1"), undefined],
    [ev("add", "/devices/system/cpu/cpu1/cache"), undefined],
    [ev("add", "/devices/system/cpu/cpufreq"), undefined],
    [ev("add", "/devices/system/cpu/cpu1/../../../../x"), undefined],
    [ev("add", "/devices/system/cpu/cpu1", "cpuid"), undefined],
    [ev("add", "/devices/system/cpu/cpu999999"), undefined],
  ])("%#", (e, want) => {
    expect(cpuEvent(e)).toEqual(want as never);
  });

  test.each([
    ["0-3", [0, 1, 2, 3]],
    ["0,2-3,7", [0, 2, 3, 7]],
    ["0\n", [0]],
    ["", []],
    ["x,1,-2,3-", [1]],
    ["0-99999", Array.from({ length: 8192 }, (_, i) => i)],
  ])("cpulist %p", (text, want) => {
    expect(parseCpuList(text)).toEqual(want);
  });
});
