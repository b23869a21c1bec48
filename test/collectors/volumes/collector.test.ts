import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VolumeFacts } from "../../../src/facts/facts.ts";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import { mountinfoPath, VolumesCollector } from "../../../src/collectors/volumes/collector.ts";
import { collectingLogger } from "../network/support/netns.ts";
import { FixtureRoot, xenGuestDevices } from "./fixture-root.ts";
import { FakeTimers } from "../../support/fake-timers.ts";

const ROOT_LINE = "26 1 202:1 / / rw - ext4 /dev/xvda1 rw\n";
const HOME_LINE = "30 26 202:2 / /home rw - ext4 /dev/xvda2 rw\n";
const GiB = 2 ** 30;

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

function setup(mountinfo: string, opts: { watch?: boolean; intervalSeconds?: number; timers?: FakeTimers } = {}) {
  const fx = xenGuestDevices(new FixtureRoot()).mountinfo(mountinfo, "proc/1/mountinfo");
  const free = new Map<string, number>();
  const log = collectingLogger();
  const c = new VolumesCollector({
    root: new HostRoot(fx.dir), log, watch: opts.watch ?? false, intervalSeconds: opts.intervalSeconds ?? 3600,
    ...(opts.timers ? { timers: opts.timers } : {}),
    usage: (path) => {
      const f = free.get(path.slice(fx.dir.length) || "/");
      if (f === undefined) throw new Error("ENOENT");
      return { sizeBytes: 20 * GiB, freeBytes: f, readOnly: false };
    },
  });
  const seen: VolumeFacts[] = [];
  c.onChange((f) => seen.push(f));
  cleanups.push(() => c.stop(), () => fx.remove());
  return { fx, c, free, seen, log };
}

describe("volumes collector against a fixture root", () => {
  test("a non-default root reads the host init's mount table", () => {
    expect(mountinfoPath(new HostRoot("/"))).toBe("proc/self/mountinfo");
    expect(mountinfoPath(new HostRoot("/host"))).toBe("proc/1/mountinfo");
  });

  test("first scan, then only changes that pass the hysteresis reach listeners", () => {
    const { fx, c, free, seen } = setup(ROOT_LINE);
    free.set("/", 10 * GiB);
    free.set("/home", GiB);
    expect(c.start().volumes.map((v) => [v.device, v.freeBytes])).toEqual([["xvda1", 10 * GiB]]);
    // Size of xvda1 is 39843840 sectors = 20400046080 bytes: 1 % is about 204 MB.
    free.set("/", 10 * GiB - 100_000_000);
    c.refresh();
    expect(seen).toHaveLength(0);
    expect(c.snapshot().volumes[0]!.freeBytes).toBe(10 * GiB);
    free.set("/", 10 * GiB - 300_000_000);
    c.refresh();
    expect(seen.map((f) => f.volumes[0]!.freeBytes)).toEqual([10 * GiB - 300_000_000]);
    fx.mountinfo(ROOT_LINE + HOME_LINE, "proc/1/mountinfo");
    c.refresh();
    expect(seen.at(-1)!.volumes.map((v) => v.device)).toEqual(["xvda1", "xvda2"]);
    c.refresh();
    expect(seen).toHaveLength(2);
  });

  test("the timer rescans free space, every interval", () => {
    const timers = new FakeTimers();
    const { c, free, seen } = setup(ROOT_LINE, { intervalSeconds: 60, timers });
    free.set("/", 10 * GiB);
    c.start();
    free.set("/", 5 * GiB);
    timers.advance(59_999);
    expect(seen).toHaveLength(0);
    timers.advance(1);
    expect(seen.at(-1)?.volumes[0]!.freeBytes).toBe(5 * GiB);
    free.set("/", 2 * GiB);
    timers.advance(60_000);
    expect(seen.at(-1)?.volumes[0]!.freeBytes).toBe(2 * GiB);
    c.stop();
    expect(timers.pending).toBe(0);
  });

  test("an unreadable mount table keeps the facts; a failing statvfs is logged once", () => {
    const { fx, c, seen, log } = setup(ROOT_LINE);
    expect(c.start().volumes[0]!.freeBytes).toBeNull();
    c.refresh();
    expect(log.lines.filter((l) => l.message.includes("free space of")).length).toBe(1);
    unlinkSync(join(fx.dir, "proc/1/mountinfo"));
    c.refresh();
    expect(seen).toHaveLength(0);
    expect(c.snapshot().volumes).toHaveLength(1);
    expect(log.lines.some((l) => l.message.includes("cannot read proc/1/mountinfo"))).toBe(true);
  });

  test("a throwing listener does not stop the others", () => {
    const { fx, c, seen, log } = setup(ROOT_LINE);
    c.onChange(() => {
      throw new Error("boom");
    });
    c.start();
    fx.mountinfo(ROOT_LINE + HOME_LINE, "proc/1/mountinfo");
    c.refresh();
    expect(seen).toHaveLength(1);
    expect(log.lines.some((l) => l.level === "error" && l.message.includes("boom"))).toBe(true);
  });

  test("junk in the mount table is skipped and reported", () => {
    const { c, log } = setup(`garbage\n\0\0\n${ROOT_LINE}`);
    expect(c.start().volumes).toHaveLength(1);
    expect(log.lines.some((l) => l.message.includes("2 malformed line(s)"))).toBe(true);
  });
});

const isRoot = process.getuid?.() === 0;
const mountOk = isRoot && Bun.spawnSync(["which", "mount"]).exitCode === 0;
if (!mountOk) console.log("skip: mount watching needs root and mount(8) (to make a test mount)");

describe.skipIf(!mountOk)("mount table watching (root: mounts a tmpfs named like a block device)", () => {
  test("a mount and an unmount are seen without the timer, and nothing runs in between", async () => {
    const fx = new FixtureRoot().device({ name: "xgafake0", major: 250, minor: 99, sectors: 2048 });
    const unbind = fx.bindFile("proc/1/mountinfo", `/proc/${process.pid}/mountinfo`);
    const target = mkdtempSync(join(tmpdir(), "xga-mnt-"));
    let mounted = false;
    const c = new VolumesCollector({ root: new HostRoot(fx.dir), log: collectingLogger(), intervalSeconds: 3600, coalesceMs: 20,
      usage: () => ({ sizeBytes: 1 << 20, freeBytes: 1 << 19, readOnly: false }) });
    cleanups.push(() => {
      c.stop();
      if (mounted) Bun.spawnSync(["umount", target]);
      rmSync(target, { recursive: true, force: true });
      unbind();
      fx.remove();
    });
    const seen: VolumeFacts[] = [];
    let wake = () => {};
    c.onChange((f) => {
      seen.push(f);
      wake();
    });
    /** Resolves once `n` changes were heard; fails after 2 s. */
    const changes = (n: number) => new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${seen.length} of ${n} changes within 2 s`)), 2000);
      wake = () => { if (seen.length >= n) { clearTimeout(t); resolve(); } };
      wake();
    });
    expect(c.start().volumes.some((v) => v.device === "xgafake0")).toBe(false);
    await c.ready();

    const cpu0 = process.cpuUsage();
    await Bun.sleep(300);
    const idle = process.cpuUsage(cpu0);
    expect(seen).toHaveLength(0);
    expect((idle.user + idle.system) / 1000).toBeLessThan(100);

    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "/dev/xgafake0", target]).exitCode).toBe(0);
    mounted = true;
    await changes(1);
    expect(seen.at(-1)?.volumes.find((v) => v.device === "xgafake0")?.mountPoints).toEqual([target]);

    expect(Bun.spawnSync(["umount", target]).exitCode).toBe(0);
    mounted = false;
    await changes(2);
    expect(seen.at(-1)?.volumes.some((v) => v.device === "xgafake0")).toBe(false);
  });
});
