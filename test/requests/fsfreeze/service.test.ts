// The fsfreeze driver with recording fakes for the ioctls, hooks and marker: order, undoing a
// failed freeze, hooks, the automatic thaw, stopping, logs held while frozen, crash recovery.
import { describe, expect, test } from "bun:test";
import { parseMountLine, type MountEntry } from "../../../src/collectors/volumes/mountinfo.ts";
import type { VolumeFacts } from "../../../src/facts/facts.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import type { HookPhase, HookRun, HookRunner } from "../../../src/requests/fsfreeze/hooks.ts";
import type { FrozenMount } from "../../../src/requests/fsfreeze/machine.ts";
import type { MarkerStore } from "../../../src/requests/fsfreeze/marker.ts";
import type { FreezeStateName, FsfreezeReply } from "../../../src/requests/fsfreeze/protocol.ts";
import { FsfreezeService, recoverAfterCrash, type Filesystems } from "../../../src/requests/fsfreeze/service.ts";
import { SystemError } from "../../../native/libc.ts";

const line = (id: number, dev: string, mp: string, fs = "ext4", opts = "rw") =>
  parseMountLine(`${id} 1 ${dev} / ${mp} ${opts} shared:1 - ${fs} /dev/x${id} rw`)!;
const TABLE: MountEntry[] = [line(20, "202:1", "/"), line(21, "202:17", "/data"), line(22, "202:33", "/data/db", "xfs"), line(23, "0:22", "/run", "tmpfs"), line(24, "202:2", "/boot/efi", "vfat")];
const vol = (device: string, mountPoints: string[]) => ({ device, path: `/dev/${device}`, uuid: "", filesystem: "ext4", sizeBytes: 1, fsSizeBytes: 1, freeBytes: 1, mountPoints, disks: [] });
const VOLUMES: VolumeFacts = { volumes: [vol("xvda1", ["/"]), vol("xvda2", ["/boot/efi"]), vol("xvdb1", ["/data"]), vol("xvdc1", ["/data/db"])] };

class FakeFs implements Filesystems {
  calls: string[] = [];
  frozen = new Set<string>();
  failFreeze = new Map<string, string>();
  freeze(path: string) {
    this.calls.push(`freeze ${path}`);
    const code = this.failFreeze.get(path);
    if (code) throw new SystemError(`FIFREEZE ${path}`, 0, code);
    if (this.frozen.has(path)) return "already" as const;
    this.frozen.add(path);
    return "done" as const;
  }
  thaw(path: string) {
    this.calls.push(`thaw ${path}`);
    return this.frozen.delete(path) ? ("done" as const) : ("already" as const);
  }
}

class FakeHooks implements HookRunner {
  calls: string[] = [];
  constructor(private readonly names: string[] = [], private readonly failing?: string) {}
  async run(phase: HookPhase, names?: readonly string[]): Promise<HookRun> {
    const order = phase === "freeze" ? this.names : [...(names ?? [])].reverse();
    const out: HookRun = { succeeded: [], failures: [] };
    for (const n of order) {
      this.calls.push(`${n} ${phase}`);
      if (phase === "freeze" && n === this.failing) {
        out.failures.push({ hook: n, message: "exit status 1: database busy" });
        break;
      }
      out.succeeded.push(n);
    }
    return out;
  }
}

class FakeMarker implements MarkerStore {
  content: FrozenMount[] | undefined;
  constructor(private readonly dev = "0:22") {}
  write(m: readonly FrozenMount[]) { this.content = [...m]; }
  read() { return this.content; }
  remove() { this.content = undefined; }
  device() { return this.dev; }
}

function setup(opts: { hooks?: FakeHooks; marker?: FakeMarker; timeoutS?: number } = {}) {
  const fs = new FakeFs();
  const hooks = opts.hooks ?? new FakeHooks();
  const marker = opts.marker ?? new FakeMarker();
  const published: FreezeStateName[] = [];
  const replies: FsfreezeReply[] = [];
  const holds: string[] = [];
  let now = 1000;
  const service = new FsfreezeService({
    limits: { timeoutS: opts.timeoutS ?? 10 }, fs, hooks, marker, log: silentLogger,
    logHold: { hold: () => holds.push("hold"), release: () => holds.push("release") },
    mountTable: () => TABLE, volumes: () => VOLUMES, realPath: (mp) => `/root${mp}`, now: () => now,
    publish: async (state) => void published.push(state),
  });
  /** As the request channel does: the reply handle() resolves with is what gets written. */
  const handle = async (e: Parameters<FsfreezeService["handle"]>[0]) => {
    const reply = await service.handle(e);
    if (reply) replies.push(reply);
    return reply;
  };
  const lastReply = () => replies.at(-1);
  return { fs, hooks, marker, published, replies, holds, service, handle, lastReply, tick: (ms: number) => (now += ms) };
}

describe("freeze and thaw", () => {
  test("default: every local block filesystem, deepest first, the root last; vfat skipped; thaw in reverse", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze" } });
    await t.service.flushed();
    expect(t.fs.calls).toEqual(["freeze /root/boot/efi", "freeze /root/data/db", "freeze /root/data", "freeze /root/"]);
    expect(t.published).toEqual(["freezing"]); // "frozen" goes with the reply
    t.tick(2500);
    await t.handle({ type: "request", request: { id: "t1", op: "thaw" } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ id: "t1", ok: true, state: "thawed", frozenMs: 2500, thawedBy: "request", freezeId: "f1" });
    expect(t.fs.calls.filter((c) => c.startsWith("thaw"))).toEqual(["thaw /root/", "thaw /root/data", "thaw /root/data/db", "thaw /root/boot/efi"]);
    expect(t.fs.frozen.size).toBe(0);
    expect(t.marker.content).toBeUndefined();
    expect(t.holds).toEqual(["hold", "release"]);
  });

  test("EOPNOTSUPP is skipped by default (vfat), EBUSY is someone else's freeze and is not thawed", async () => {
    const t = setup();
    t.fs.failFreeze.set("/root/boot/efi", "EOPNOTSUPP");
    t.fs.frozen.add("/root/data");
    await t.handle({ type: "request", request: { id: "f1", op: "freeze" } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ ok: true, mounts: ["/data/db", "/"] });
    expect(t.lastReply()!.skipped).toEqual(["/boot/efi: vfat cannot be frozen", "/data: frozen already (left to whoever froze it)"]);
    await t.handle({ type: "request", request: { id: "t1", op: "thaw" } });
    expect(t.fs.frozen).toEqual(new Set(["/root/data"]));
  });

  test("a failing mount thaws what was frozen, in reverse, and the error names the mount and the errno", async () => {
    const t = setup();
    t.fs.failFreeze.set("/root/", "EIO");
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data", "/"] } });
    await t.service.flushed();
    expect(t.fs.calls).toEqual(["freeze /root/data", "freeze /root/", "thaw /root/data"]);
    expect(t.lastReply()).toMatchObject({ ok: false, state: "thawed", error: "/: FIFREEZE /root/: EIO (thawed again: /data)" });
    expect(t.fs.frozen.size).toBe(0);
    expect(t.marker.content).toBeUndefined();
    expect(t.holds).toEqual(["hold", "release"]);
  });

  test("an explicit mount that cannot be frozen is an error, not skipped", async () => {
    const t = setup();
    t.fs.failFreeze.set("/root/boot/efi", "EOPNOTSUPP");
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/boot/efi"] } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ ok: false, error: "/boot/efi: FIFREEZE /root/boot/efi: EOPNOTSUPP" });
  });

  test("a path that is not a mount point is refused before anything happens", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data/sub"] } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ ok: false, error: "/data/sub: not a mount point" });
    expect(t.fs.calls).toEqual([]);
    expect(t.hooks.calls).toEqual([]);
  });

  test("the marker on a filesystem being frozen refuses the freeze", async () => {
    const t = setup({ marker: new FakeMarker("202:1") });
    await t.handle({ type: "request", request: { id: "f1", op: "freeze" } });
    await t.service.flushed();
    expect(t.lastReply()!.error).toContain("the marker would be on /, which is being frozen");
    expect(t.fs.calls).toEqual([]);
  });

  test("the marker lists what was frozen while frozen", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    expect(t.marker.content).toEqual([{ mountPoint: "/data", device: "202:17" }]);
  });
});

describe("hooks", () => {
  test("freeze hooks run before, thaw hooks after, in reverse", async () => {
    const t = setup({ hooks: new FakeHooks(["10-db", "20-app"]) });
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    await t.handle({ type: "request", request: { id: "t1", op: "thaw" } });
    await Bun.sleep(0);
    expect(t.hooks.calls).toEqual(["10-db freeze", "20-app freeze", "20-app thaw", "10-db thaw"]);
  });

  test("a failing freeze hook aborts with its message; the hooks before it are thawed; nothing frozen", async () => {
    const t = setup({ hooks: new FakeHooks(["10-db", "20-app", "30-x"], "20-app") });
    await t.handle({ type: "request", request: { id: "f1", op: "freeze" } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ ok: false, state: "thawed", error: "freeze hook 20-app: exit status 1: database busy" });
    expect(t.hooks.calls).toEqual(["10-db freeze", "20-app freeze", "10-db thaw"]);
    expect(t.fs.calls).toEqual([]);
    expect(t.marker.content).toBeUndefined();
  });
});

describe("automatic thaw, stop, duplicates", () => {
  test("the timer thaws with no thaw request; the next thaw request is told", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"], timeout: 1 } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ timeout: 1 });
    const deadline = Date.now() + 5000;
    while (t.fs.frozen.size > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(t.fs.frozen.size).toBe(0);
    await t.service.flushed();
    expect(t.published.at(-1)).toBe("thawed");
    await t.handle({ type: "request", request: { id: "t1", op: "thaw" } });
    await t.service.flushed();
    expect(t.lastReply()).toMatchObject({ ok: true, thawedBy: "timeout", freezeId: "f1" });
  });

  test("stop while frozen thaws, then takes no more requests", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    await t.service.stop("SIGTERM");
    expect(t.fs.frozen.size).toBe(0);
    expect(t.service.current.last?.thawedBy).toBe("SIGTERM");
    await t.handle({ type: "request", request: { id: "f2", op: "freeze", mounts: ["/data"] } });
    expect(t.fs.frozen.size).toBe(0);
  });

  test("stop during a freeze hook: the freeze does not happen", async () => {
    let release!: () => void;
    const slow: HookRunner = {
      run: async (phase) => {
        if (phase === "freeze") await new Promise<void>((r) => (release = r));
        return { succeeded: ["10-db"], failures: [] };
      },
    };
    const t = setup({ hooks: slow as FakeHooks });
    const handled = t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    await Bun.sleep(10);
    const stopped = t.service.stop("SIGINT");
    release();
    await Promise.all([handled, stopped]);
    await t.service.flushed();
    expect(t.fs.calls).toEqual([]);
    expect(t.lastReply()).toMatchObject({ ok: false, error: "the agent is stopping" });
  });

  test("the same freeze request twice freezes once", async () => {
    const t = setup();
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    await t.handle({ type: "request", request: { id: "f1", op: "freeze", mounts: ["/data"] } });
    await t.service.flushed();
    expect(t.fs.calls).toEqual(["freeze /root/data"]);
    expect(t.replies).toHaveLength(2);
    expect(t.replies[1]).toEqual(t.replies[0]);
  });
});

describe("recoverAfterCrash", () => {
  test("thaws what the marker lists, in reverse, when the same filesystem is mounted there; removes the marker", () => {
    const fs = new FakeFs();
    const marker = new FakeMarker();
    marker.content = [{ mountPoint: "/data", device: "202:17" }, { mountPoint: "/", device: "202:1" }, { mountPoint: "/gone", device: "9:9" }];
    const r = recoverAfterCrash(marker, fs, TABLE, (mp) => `/root${mp}`);
    expect(r).toEqual({ thawed: ["/", "/data"], failed: ["/gone: no longer the filesystem 9:9; left alone"] });
    expect(fs.calls).toEqual(["thaw /root/", "thaw /root/data"]);
    expect(marker.content).toBeUndefined();
  });

  test("no marker: nothing to do", () => {
    expect(recoverAfterCrash(new FakeMarker(), new FakeFs(), TABLE, (mp) => mp)).toBeUndefined();
  });
});
