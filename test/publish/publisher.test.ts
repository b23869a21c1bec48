import { describe, expect, test } from "bun:test";
import { Publisher } from "../../src/publish/publisher.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { dom0Phase } from "../../src/schema/phases.ts";
import { asctimeLocal } from "../../native/system.ts";
import { RecordingTarget } from "../support/recording-target.ts";
import { XenstoreConnectionError } from "../../src/xenstore/errors.ts";

const tree = (o: Record<string, string>) => new Map(Object.entries(o));
const NOW = "Fri Jan  2 15:04:05 2026";

function publisher(target: RecordingTarget, warnings: string[] = []) {
  const log = { ...silentLogger, warn: (m: unknown) => void warnings.push(String(m)), withTag: () => log };
  return new Publisher(target, { log, phase: dom0Phase, heartbeat: { key: "data/updated", quietKeys: ["data/meminfo_free"], clock: () => NOW } });
}

describe("Publisher", () => {
  test("first publish writes everything, then data/updated; a repeat writes nothing", async () => {
    const t = new RecordingTarget();
    const p = publisher(t);
    const desired = tree({ "data/meminfo_free": "5", "attr/vif/0": "" });
    await p.publish(desired);
    expect(t.take()).toEqual(["+ data/meminfo_free = 5", "+ attr/vif/0 = ", "+ data/updated = Fri Jan  2 15:04:05 2026"]);
    await p.publish(desired);
    expect(t.take()).toEqual([]);
  });

  test("a change to meminfo_free alone does not move data/updated", async () => {
    const t = new RecordingTarget();
    const p = publisher(t);
    await p.publish(tree({ "data/meminfo_free": "5", "data/os_name": "x" }));
    t.take();
    await p.publish(tree({ "data/meminfo_free": "6", "data/os_name": "x" }));
    expect(t.take()).toEqual(["+ data/meminfo_free = 6"]);
    await p.publish(tree({ "data/meminfo_free": "6", "data/os_name": "y" }));
    expect(t.take()).toEqual(["+ data/os_name = y", "+ data/updated = Fri Jan  2 15:04:05 2026"]);
  });

  test("EACCES on control/: warned once, never retried until a reset, tried again after it without a second warning", async () => {
    const t = new RecordingTarget();
    t.refuse.set("control", "EACCES");
    const warnings: string[] = [];
    const p = publisher(t, warnings);
    const desired = tree({ "control/feature-balloon": "1", "data/a": "1" });
    await p.publish(desired);
    await p.publish(tree({ "control/feature-balloon": "1", "data/a": "2" }));
    expect(t.log.filter((l) => l.includes("control/")).length).toBe(1);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("read-only for guests");
    p.reset();
    t.take();
    await p.publish(desired);
    expect(t.take().filter((l) => l.includes("control/")).length).toBe(1);
    expect(warnings.length).toBe(1); // every migration tries again; the log says it once
  });

  test("quota errors: what fits is published, the rest logged and not retried until something is freed", async () => {
    const t = new RecordingTarget();
    t.refuse.set("attr/vif/0/ipv4/2", "EQUOTA");
    const warnings: string[] = [];
    const p = publisher(t, warnings);
    const desired = tree({ "attr/vif/0/ipv4/0": "a", "attr/vif/0/ipv4/1": "b", "attr/vif/0/ipv4/2": "c" });
    const r = await p.publish(desired);
    expect(r).toMatchObject({ writes: 3, refused: 1 }); // two addresses and data/updated
    expect(t.store.get("attr/vif/0/ipv4/1")).toBe("b");
    expect(warnings.join()).toContain("quota");
    t.take();
    await p.publish(desired);
    expect(t.take()).toEqual([]);
    // freeing a key lets the refused one be tried again
    t.refuse.clear();
    await p.publish(tree({ "attr/vif/0/ipv4/0": "a", "attr/vif/0/ipv4/2": "c" }));
    await p.publish(tree({ "attr/vif/0/ipv4/0": "a", "attr/vif/0/ipv4/2": "c" }));
    expect(t.store.get("attr/vif/0/ipv4/2")).toBe("c");
  });

  test("EAGAIN defers the change: not in the mirror, sent again by the next publish (the pipeline schedules it)", async () => {
    const t = new RecordingTarget();
    t.eagain.set("data/a", 2);
    const p = publisher(t);
    expect((await p.publish(tree({ "data/a": "1" }))).deferred).toBe(1);
    expect((await p.publish(tree({ "data/a": "1" }))).deferred).toBe(1);
    expect((await p.publish(tree({ "data/a": "1" }))).deferred).toBe(0);
    expect(t.store.get("data/a")).toBe("1");
  });

  test("quota refusals are tried again in the same publish once its removals made room", async () => {
    const t = new RecordingTarget();
    const p = publisher(t);
    const addrs = (from: number, to: number) => new Map(Array.from({ length: to - from }, (_, i) => [`attr/vif/0/ipv4/${from + i}`, `a${from + i}`] as [string, string]));
    await p.publish(addrs(0, 10));
    // Full: the new addresses are refused until the old ones are gone.
    t.limit = 11; // ten addresses and data/updated
    const r = await p.publish(addrs(5, 15));
    expect(r.refused).toBe(0);
    expect([...t.store.keys()].filter((k) => k.startsWith("attr/")).sort()).toEqual([...addrs(5, 15).keys()].sort());
  });

  test("a removed key whose parent is already gone counts as removed", async () => {
    const t = new RecordingTarget();
    const p = publisher(t);
    await p.publish(tree({ "data/x": "1" }));
    t.refuse.set("data/x", "ENOENT");
    await p.publish(new Map());
    expect(p.written().has("data/x")).toBe(false);
  });

  test("a lost connection aborts the batch", async () => {
    const t = new RecordingTarget();
    t.write = async () => {
      throw new XenstoreConnectionError("connection lost");
    };
    await expect(publisher(t).publish(tree({ "data/a": "1" }))).rejects.toThrow("connection lost");
  });
});

test("the agent's heartbeat clock is the local time as C asctime() prints it", async () => {
  const t = new RecordingTarget();
  const p = new Publisher(t, { log: silentLogger, phase: dom0Phase, heartbeat: { key: "data/updated", quietKeys: [], clock: () => asctimeLocal(new Date()) } });
  const before = Math.floor(Date.now() / 1000);
  await p.publish(tree({ "data/a": "1" }));
  const after = Math.floor(Date.now() / 1000);
  const value = t.store.get("data/updated") ?? "(not written)";
  // date(1) in the same time zone: %e pads the day with a space, as asctime does.
  const expected = [before, after].map((s) => Bun.spawnSync(["date", "-d", `@${s}`, "+%a %b %e %H:%M:%S %Y"], { env: { ...process.env, LC_ALL: "C" } }).stdout.toString().trim());
  expect(expected).toContain(value);
});

test("EAGAIN that does not stop is deferred, not refused: the next publish tries again", async () => {
  const t = new RecordingTarget();
  t.eagain.set("data/a", 1);
  const p = publisher(t);
  const r = await p.publish(tree({ "data/a": "1" }));
  expect(r.deferred).toBe(1);
  expect(t.store.has("data/a")).toBe(false);
  await p.publish(tree({ "data/a": "1" }));
  expect(t.store.get("data/a")).toBe("1");
});

test("a full quota is one warning per batch, not one per key", async () => {
  const t = new RecordingTarget();
  t.refuse.set("attr/vif", "EQUOTA");
  const warnings: string[] = [];
  const p = publisher(t, warnings);
  const desired = new Map(Array.from({ length: 500 }, (_, i) => [`attr/vif/0/ipv4/${i}`, `10.0.${i >> 8}.${i & 255}`] as [string, string]));
  await p.publish(desired);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain("500 change(s) not written");
});
