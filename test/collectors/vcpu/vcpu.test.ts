import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { VcpuFacts } from "../../../src/facts/facts.ts";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import { VcpuCollector } from "../../../src/collectors/vcpu.ts";
import { collectingLogger } from "../network/support/netns.ts";
import { FixtureRoot } from "../volumes/fixture-root.ts";

const DIR = join(import.meta.dir, "../../fixtures/uevent");
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".bin")).sort();
const captured = (part: string) => new Uint8Array(readFileSync(join(DIR, FILES.find((f) => f.includes(part))!)));
/** The CPU number in the captured add event (the capture machine's last CPU). */
const CAPTURED_CPU = Number(/cpu(\d+)\0/.exec(Buffer.from(captured("add-cpu-cpu")).toString("latin1"))![1]);

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

/** A fixture root with CPUs 0..n-1; `offline` ones have online = 0; cpu0 has no online file. */
function cpus(n: number, offline: number[], present = `0-${n - 1}`) {
  const fx = new FixtureRoot();
  const online = Array.from({ length: n }, (_, i) => i).filter((i) => !offline.includes(i));
  fx.file("sys/devices/system/cpu/present", `${present}\n`).file("sys/devices/system/cpu/online", `${online.join(",")}\n`);
  for (let i = 1; i < n; i++) fx.file(`sys/devices/system/cpu/cpu${i}/online`, offline.includes(i) ? "0\n" : "1\n");
  const log = collectingLogger();
  const c = new VcpuCollector({ root: new HostRoot(fx.dir), log });
  const seen: VcpuFacts[] = [];
  c.onChange((f) => seen.push(f));
  cleanups.push(() => c.stop(), () => fx.remove());
  const state = (i: number) => readFileSync(join(fx.dir, `sys/devices/system/cpu/cpu${i}/online`), "utf8").trim();
  return { fx, c, log, seen, state };
}

describe("vCPU collector (fixture root, captured uevents)", () => {
  test("start: hot-plug advertised, an offline CPU is left alone (the admin may have offlined it)", () => {
    const { c, state } = cpus(4, [2]);
    expect(c.start()).toEqual({ hotplug: true, present: "0-3", online: "0,1,3" });
    expect(state(2)).toBe("0");
  });

  test("a captured add event brings that CPU online, once", () => {
    const n = Math.max(CAPTURED_CPU + 1, 2);
    const { fx, c, state, seen, log } = cpus(n, [CAPTURED_CPU]);
    c.start();
    fx.file("sys/devices/system/cpu/online", `0-${n - 1}\n`); // what the kernel would show afterwards
    c.onChunk(captured("add-cpu-cpu"));
    expect(state(CAPTURED_CPU)).toBe("1");
    expect(c.stats().onlined).toBe(1);
    expect(seen.at(-1)).toEqual({ hotplug: true, present: `0-${n - 1}`, online: `0-${n - 1}` });
    expect(log.lines.some((l) => l.message.includes(`vCPU ${CAPTURED_CPU} was added`))).toBe(true);
    c.onChunk(captured("add-cpu-cpu"));
    expect(c.stats().onlined).toBe(1); // already online: nothing written
  });

  test("every captured event in one chunk: only the CPU add acts; cpuid and net devices do not", () => {
    const n = Math.max(CAPTURED_CPU + 1, 2);
    const { c, state } = cpus(n, [CAPTURED_CPU]);
    c.start();
    c.onChunk(new Uint8Array(Buffer.concat(FILES.map((f) => readFileSync(join(DIR, f))))));
    expect(state(CAPTURED_CPU)).toBe("1");
    expect(c.stats()).toEqual({ onlined: 1, overruns: 0, malformed: 0 });
  });

  test("a CPU without an online file (cpu0, not hot-pluggable) is never written", () => {
    const { fx, c } = cpus(2, []);
    c.start();
    c.onChunk(new Uint8Array(Buffer.from("add@/devices/system/cpu/cpu0\0ACTION=add\0SUBSYSTEM=cpu\0", "latin1")));
    expect(existsSync(join(fx.dir, "sys/devices/system/cpu/cpu0/online"))).toBe(false);
    expect(c.stats().onlined).toBe(0);
  });

  test.skipIf(process.getuid?.() !== 0)("a failing write is logged, not thrown (root: bind mount)", () => {
    const { fx, c, log } = cpus(3, [2]);
    c.start();
    // An attribute that reads but refuses writes, even from root (links resolve inside the root,
    // so the real file is bind-mounted there).
    cleanups.push(fx.bindFile("sys/devices/system/cpu/cpu2/online", "/proc/version"));
    c.onChunk(new Uint8Array(Buffer.from("add@/devices/system/cpu/cpu2\0ACTION=add\0SUBSYSTEM=cpu\0", "latin1")));
    expect(c.stats().onlined).toBe(0);
    expect(log.lines.some((l) => l.level === "warn" && l.message.includes("could not be brought online"))).toBe(true);
  });

  test("after an overrun, CPUs that became present meanwhile count as added; old offline ones stay offline", () => {
    const { fx, c, state } = cpus(4, [1, 3], "0-2");
    c.start();
    fx.file("sys/devices/system/cpu/present", "0-3\n");
    (c as unknown as { onReadError(code: string, m: string): boolean }).onReadError("ENOBUFS", "No buffer space");
    expect(state(3)).toBe("1");
    expect(state(1)).toBe("0");
    expect(c.stats().overruns).toBe(1);
  });

  test("a dead socket withdraws the feature", () => {
    const { c, seen } = cpus(2, []);
    c.start();
    (c as unknown as { onReadError(code: string, m: string): boolean }).onReadError("EBADF", "bad fd");
    expect(seen.at(-1)?.hotplug).toBe(false);
  });
});

const isRoot = process.getuid?.() === 0;
const cpu1Uevent = "/sys/devices/system/cpu/cpu1/uevent";
const canTrigger = isRoot && existsSync(cpu1Uevent);
if (!canTrigger) console.log(`skip: the real-kernel vCPU test needs root and ${cpu1Uevent}`);

describe.skipIf(!canTrigger)("real kernel uevents (root)", () => {
  test("`add` written to cpu1/uevent reaches the collector through the socket and onlines cpu1 in the fixture root", async () => {
    const { c, state } = cpus(2, [1]);
    c.start();
    writeFileSync(cpu1Uevent, "add"); // the kernel re-sends add@/devices/system/cpu/cpu1 (SYNTH_UUID=0)
    for (let i = 0; i < 100 && state(1) !== "1"; i++) await Bun.sleep(20);
    expect(state(1)).toBe("1");
    expect(c.stats().onlined).toBe(1);
  });
});
