// The supervised agent against the in-process xenstored: start-up, readiness, freeze timeout,
// migration triggers (each one alone, then all together), reconnects, reload, stop.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FixtureRoot, Harness, HOME } from "./support.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("start", () => {
  test("first publish: tree equals the truth, READY=1 sent once, freeze timeout raised", async () => {
    h = await new Harness().start();
    await h.converged();
    const ready = h.notifier.messages.filter((m) => m.includes("READY=1"));
    expect(ready).toHaveLength(1);
    expect(ready[0]).toMatch(/STATUS=Publishing \d+ keys to socket:/);
    expect(readFileSync(join(h.root.dir, "sys/power/pm_freeze_timeout"), "utf8")).toBe("300000");
    expect(h.errors()).toEqual([]);
  });

  test("afterHeavyWork runs the settle time after the first publish, and again after a republish", async () => {
    let ran = 0;
    let next: () => void = () => {};
    const run = () => new Promise<void>((r) => (next = r));
    let first = run();
    h = new Harness({ supervisor: { settleAfterHeavyWorkMs: 50, afterHeavyWork: () => (ran++, next()) } });
    const started = performance.now();
    await h.start();
    await h.converged();
    await first;
    expect(ran).toBe(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    first = run();
    h.wipeGuestKeys();
    const republished = h.next("republished", 2000);
    h.fireWatch("xen-guest-agent-resume-sentinel");
    await republished;
    await first;
    expect(ran).toBe(2);
    await Bun.sleep(100); // twice the settle time: a third run would have happened by now
    expect(ran).toBe(2);
  });

  test("afterHeavyWork also runs after a large publish (a storm's batch), never after a small one", async () => {
    for (const [largePublish, expected] of [[5, 2], [1000, 1]] as const) {
      let ran = 0;
      let next: () => void = () => {};
      let settled = new Promise<void>((r) => (next = r));
      h = new Harness({ supervisor: { settleAfterHeavyWorkMs: 50, largePublish, afterHeavyWork: () => (ran++, next()) } });
      await h.start();
      await h.converged();
      await settled; // the first publish
      settled = new Promise<void>((r) => (next = r));
      h.wipeGuestKeys({ byDom0: true }); // written back in one publish of every key: more than 5, fewer than 1000
      await h.converged();
      if (expected === 2) await settled;
      else await Bun.sleep(100); // twice the settle time: a run would have happened by now
      expect(ran).toBe(expected);
      await h.stop();
    }
  });

  test("afterHeavyWork does not run once the agent is stopping", async () => {
    let ran = 0;
    h = new Harness({ supervisor: { settleAfterHeavyWorkMs: 50, afterHeavyWork: () => void ran++ } });
    await h.start();
    await h.converged();
    await h.sup.stop();
    await Bun.sleep(100);
    expect(ran).toBe(0);
  });

  test("a freeze timeout someone chose is left alone, and the option turns the tweak off", async () => {
    const root = new FixtureRoot({ "sys/power/pm_freeze_timeout": "45000\n" });
    h = await new Harness({ root }).start();
    expect(readFileSync(join(root.dir, "sys/power/pm_freeze_timeout"), "utf8")).toBe("45000\n");
    await h.stop();
    root.write({ "sys/power/pm_freeze_timeout": "20000\n" });
    h = await new Harness({ root, cli: { "raise-freeze-timeout": false } }).start();
    expect(readFileSync(join(root.dir, "sys/power/pm_freeze_timeout"), "utf8")).toBe("20000\n");
    await h.stop();
    root.remove();
  });
});

describe("start without a connection", () => {
  test("xenstore refuses at first: start returns, retries with backoff, READY=1 only after the first publish", async () => {
    h = new Harness();
    h.failConnects = 3;
    await h.start({ waitForWatches: false });
    expect(h.sup.state).toBe("reconnecting");
    expect(h.notifier.messages.some((m) => m.includes("READY=1"))).toBe(false);
    await h.notifier.waitFor(/^READY=1/);
    await h.converged();
    expect(h.sup.state).toBe("connected");
    expect(h.notifier.messages.filter((m) => m.includes("READY=1"))).toHaveLength(1);
    expect(h.connects).toBe(1);
  });

  test("not a Xen guest at all (no xenstore anywhere): start fails with FatalError", async () => {
    const { Supervisor } = await import("../../src/lifecycle/supervisor.ts");
    const { ReloadableLogger } = await import("../../src/log/reloadable.ts");
    const { defaultConnector } = await import("../../src/lifecycle/links.ts");
    const { FatalError } = await import("../../src/errors.ts");
    const root = new FixtureRoot({ "sys/hypervisor/type": "kvm\n" });
    const probe = new Harness({ root });
    const sup = new Supervisor({
      loaded: probe.loaded(),
      reload: () => probe.loaded(),
      log: new ReloadableLogger(probe.log),
      connect: defaultConnector({}),
    });
    const err = await sup.start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(String((err as Error).message)).toContain("not a Xen guest (sys/hypervisor/type is 'kvm')");
    await sup.stop();
    root.remove();
  });
});

describe("migration and resume triggers", () => {
  for (const kind of ["unique-domain-id", "resume-watch", "clock-jump"] as const) {
    test(`tree wiped, then ${kind}: one full republish within 1 s, tree equals the truth`, async () => {
      h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
      await h.converged();
      const before = h.sup.republishes;
      h.wipeGuestKeys();
      expect(h.diff().length).toBeGreaterThan(0);
      const started = performance.now();
      const republished = h.next("republished", 1000);
      if (kind === "unique-domain-id") h.dom0Write("unique-domain-id", "22222222-2222-2222-2222-222222222222");
      else if (kind === "resume-watch") h.fireWatch("xen-guest-agent-resume-sentinel");
      else h.jump?.();
      expect(await republished).toEqual([kind]);
      await h.converged(1000 - (performance.now() - started));
      expect(h.sup.republishes).toBe(before + 1);
    });
  }

  test("a clock step with the tree intact (NTP, date -s): one read, no republish, nothing written", async () => {
    let writes = 0;
    h = await new Harness({
      uniqueDomainId: "11111111-1111-1111-1111-111111111111",
      wrapTarget: (t) => ({ name: t.name, write: (p, v) => (writes++, t.write(p, v)), rm: (p) => (writes++, t.rm(p)) }),
    }).start();
    await h.converged();
    const before = writes;
    const checked = h.next("clockStepChecked", 2000);
    h.jump?.();
    expect(await checked).toBe(false);
    expect(h.sup.republishes).toBe(0);
    expect(writes).toBe(before);
    expect(h.log.lines.filter((l) => l.level === "info" && l.message.includes("republishing")).map((l) => l.message)).toEqual([]);
  });

  test("a clock step after data/updated alone was changed by someone else: republished", async () => {
    h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    // Changed with no watch event (a foreign change that fires one is repaired by itself).
    h.srv.store.write(`${HOME}/data/updated`, "not ours", 0, []);
    const checked = h.next("clockStepChecked", 2000);
    h.jump?.();
    expect(await checked).toBe(true);
    await h.converged(1000);
    expect(h.sup.republishes).toBe(1);
  });

  test("the registration's own watch events are not triggers; an unchanged unique-domain-id is not one", async () => {
    h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    // Rewriting the same id fires the watch; the value did not change, so nothing happens.
    h.dom0Write("unique-domain-id", "11111111-1111-1111-1111-111111111111");
    await h.converged();
    expect(h.sup.republishes).toBe(0);
  });

  test("triggers arriving together cause one republish", async () => {
    h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    h.wipeGuestKeys();
    const republished = h.next("republished", 1000);
    h.jump?.();
    h.fireWatch("xen-guest-agent-resume-sentinel");
    h.dom0Write("unique-domain-id", "33333333-3333-3333-3333-333333333333");
    h.jump?.();
    const reasons = (await republished) as string[];
    await h.converged();
    expect(h.sup.republishes).toBe(1);
    expect(reasons).toContain("clock-jump");
  });

  test("a whole new domain (replaced tree, new id): republished", async () => {
    h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    h.replaceDomain();
    h.dom0Write("unique-domain-id", "44444444-4444-4444-4444-444444444444");
    await h.converged(1000);
    expect(h.sup.republishes).toBeGreaterThanOrEqual(1);
  });
});

describe("lost connection", () => {
  test("dropped while idle: reconnects, republishes, tree equals the truth", async () => {
    h = await new Harness().start();
    await h.converged();
    const reconnected = h.next("reconnected");
    h.srv.faults.dropConnections();
    expect(await reconnected).toBeGreaterThanOrEqual(1);
    await h.converged();
    expect(h.connects).toBe(2);
    expect(h.sup.state).toBe("connected");
  });

  test("dropped in the middle of a batch: the batch stops, reconnect, tree equals the truth", async () => {
    let writes = 0;
    let armed = false;
    h = new Harness({
      wrapTarget: (t) => ({
        name: t.name,
        write: (p, v) => {
          if (armed && ++writes === 5) {
            armed = false;
            h!.srv.faults.dropConnections();
          }
          return t.write(p, v);
        },
        rm: (p) => t.rm(p),
      }),
    });
    await h.start();
    await h.converged();
    h.wipeGuestKeys();
    armed = true;
    const reconnected = h.next("reconnected");
    h.jump?.();
    await reconnected;
    await h.converged();
    expect(writes).toBeGreaterThanOrEqual(5);
  });

  test("xenstore away for a while: backoff (capped), no exit, republish when it is back", async () => {
    h = await new Harness().start();
    await h.converged();
    // Take the guest socket away: connects fail until it is back.
    const { renameSync } = await import("node:fs");
    const away = `${h.guestPath}.away`;
    renameSync(h.guestPath, away);
    h.srv.faults.dropConnections();
    // Attempts fail while it is away, each one later than the last, up to the cap (200 ms here).
    const delays: number[] = [];
    await new Promise<void>((resolve) => {
      h!.sup.events.reconnectFailed = (_attempt, next) => {
        delays.push(next);
        if (delays.length === 6) resolve();
      };
    });
    expect(delays).toEqual([20, 40, 80, 160, 200, 200]);
    expect(h.sup.state).toBe("reconnecting");
    h.wipeGuestKeys();
    const reconnected = h.next("reconnected", 3000);
    renameSync(away, h.guestPath);
    await reconnected;
    await h.converged();
    expect(h.log.lines.filter((l) => l.level === "warn" && l.message.includes("reconnect failed")).length).toBe(1); // logged once
  });
});

describe("reload and stop", () => {
  test("SIGHUP (reload): new configuration applied, everything republished, stale keys removed", async () => {
    h = await new Harness().start();
    await h.converged();
    const before = h.published();
    h.cli = { ...h.cli, schema: "rfc" };
    expect(await h.sup.reload()).toBe(true);
    await h.converged();
    expect(h.sup.config.schema).toBe("rfc");
    // std-only keys are gone.
    const after = h.published();
    for (const k of before.keys()) if (!h.truth().has(k) && k !== "data/updated") expect(after.has(k)).toBe(false);
    expect(h.notifier.messages.some((m) => m.startsWith("RELOADING=1\nMONOTONIC_USEC="))).toBe(true);
  });

  test("reload with the same schema removes nothing that stays published (no flapping)", async () => {
    const removed: string[] = [];
    h = new Harness({
      wrapTarget: (t) => ({ name: t.name, write: (p, v) => t.write(p, v), rm: (p) => (removed.push(p), t.rm(p)) }),
    });
    await h.start();
    await h.converged();
    removed.length = 0;
    h.cli = { ...h.cli, extended: true };
    expect(await h.sup.reload()).toBe(true);
    await h.converged();
    const kept = [...h.truth().keys()];
    expect(removed.filter((r) => kept.some((k) => k === r || k.startsWith(`${r}/`)))).toEqual([]);
  });

  test("reload changing the connection settings reopens the connection; watches work on the new one", async () => {
    h = await new Harness({ uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    h.cli = { ...h.cli, "xenstore-timeout": 3 };
    const watching = h.next("watching");
    expect(await h.sup.reload()).toBe(true);
    await watching;
    await h.converged();
    expect(h.connects).toBe(2);
    await h.srv.connectionsSettled(1); // the old connection's close reaches the server in its own time
    h.wipeGuestKeys();
    const republished = h.next("republished");
    h.dom0Write("unique-domain-id", "55555555-5555-5555-5555-555555555555");
    expect(await republished).toEqual(["unique-domain-id"]);
    await h.converged();
  });

  test("a bad configuration on reload: logged, the running one stays", async () => {
    h = await new Harness().start();
    await h.converged();
    h.cli = { ...h.cli, "memory-interval": "0" };
    expect(await h.sup.reload()).toBe(false);
    expect(h.errors().some((e) => e.includes("configuration not reloaded") && e.includes("memory-interval"))).toBe(true);
    expect(h.sup.config.memoryInterval).toBe(3600);
    expect(h.sup.state).toBe("connected");
  });

  test("stop during a batch: the batch in flight is finished first", async () => {
    let onWrite: (() => void) | undefined;
    h = new Harness({
      wrapTarget: (t) => ({ name: t.name, write: (p, v) => (onWrite?.(), t.write(p, v)), rm: (p) => t.rm(p) }),
    });
    await h.start();
    await h.converged();
    h.srv.faults.delayReplies(3);
    h.wipeGuestKeys();
    const inBatch = new Promise<void>((resolve) => (onWrite = resolve));
    h.jump?.();
    await inBatch;
    onWrite = undefined;
    const t0 = performance.now();
    await h.sup.stop();
    expect(performance.now() - t0).toBeLessThan(1600);
    expect(h.diff()).toEqual([]); // everything the batch had to write was written before stopping
  });

  test("stop while xenstore answers nothing: bounded at 1.5 s", async () => {
    let onWrite: (() => void) | undefined;
    h = new Harness({
      wrapTarget: (t) => ({ name: t.name, write: (p, v) => (onWrite?.(), t.write(p, v)), rm: (p) => t.rm(p) }),
    });
    await h.start();
    await h.converged();
    h.wipeGuestKeys();
    // From the republish's first write on, nothing is answered (its read-back went through).
    const inBatch = new Promise<void>((resolve) => (onWrite = () => (h!.srv.faults.swallowNext(1_000_000), resolve())));
    h.jump?.();
    await inBatch; // the republish is sending, and nothing will answer
    onWrite = undefined;
    const t0 = performance.now();
    await h.sup.stop();
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThan(1400);
    expect(ms).toBeLessThan(2000);
    h.srv.faults.swallowNext(0);
  });

  test("stop: STOPPING=1, connection closed, idempotent", async () => {
    h = await new Harness().start();
    await h.converged();
    await h.sup.stop();
    await h.sup.stop();
    expect(h.sup.state).toBe("stopped");
    expect(h.notifier.messages.some((m) => m.startsWith("STOPPING=1"))).toBe(true);
  });
});


describe("changes by others, and what the watches cost at rest", () => {
  const MEMINFO = (availableKiB: number) => `MemTotal:        2048000 kB\nMemFree:          512000 kB\nMemAvailable:    ${availableKiB} kB\n`;

  test("a memory tick at rest: the new value is written and no watch event comes back to the guest", async () => {
    h = await new Harness({ cli: { "memory-interval": 1 } }).start();
    await h.converged();
    const heartbeat = h.published().get("data/updated");
    const mark = h.srv.watchEventsSent.length;
    h.root.write({ "proc/meminfo": MEMINFO(777000) });
    await h.converged(5000, "meminfo_free moved");
    for (let ticks = 0; h.published().get("data/meminfo_free") !== "777000"; ticks++) {
      expect(ticks).toBeLessThan(5);
      await h.next("published", 3000);
    }
    expect(h.srv.watchEventsSent.slice(mark).filter((e) => e.domid === 5)).toEqual([]);
    expect(h.published().get("data/updated")).toBe(heartbeat!); // memory alone does not move the heartbeat
  });

  test("dom0 removes every data/ key at once: all written again in one publish, the unwatched memory key too", async () => {
    const writes: string[] = [];
    h = new Harness({ wrapTarget: (t) => ({ name: t.name, write: (p, v) => (writes.push(p), t.write(p, v)), rm: (p) => t.rm(p) }) });
    await h.start();
    await h.converged();
    const keys = [...h.published().keys()].filter((k) => k.startsWith("data/") && k.split("/").length === 2);
    expect(keys).toContain("data/meminfo_free");
    writes.length = 0;
    h.srv.mutate((c) => {
      for (const k of keys) h!.srv.store.rm(`${HOME}/${k}`, 0, c);
    });
    await h.converged(1000, "every data/ key written again");
    expect(writes.filter((p) => p === "data/updated")).toHaveLength(1);
    expect(writes.filter((p) => p === "data/meminfo_free")).toHaveLength(1);
    expect(h.log.lines.filter((l) => /removed by someone else/.test(l.message))).toHaveLength(1);
    expect(h.sup.republishes).toBe(0);
  });

  test("a migration's removals and new unique-domain-id together: one republish, every key written once, no repair", async () => {
    const writes: string[] = [];
    h = new Harness({
      uniqueDomainId: "aaaaaaaa-0000-0000-0000-000000000001",
      supervisor: { settleMs: 300 }, // a trigger settle longer than the foreign-change check's 150 ms
      wrapTarget: (t) => ({ name: t.name, write: (p, v) => (writes.push(p), t.write(p, v)), rm: (p) => t.rm(p) }),
    });
    await h.start();
    await h.converged();
    const keys = [...h.published().keys()].filter((k) => /^(data|attr)\/[^/]+$/.test(k));
    writes.length = 0;
    const republished = h.next("republished", 3000);
    h.srv.mutate((c) => {
      for (const k of keys) h!.srv.store.rm(`${HOME}/${k}`, 0, c);
      h!.srv.store.write(`${HOME}/unique-domain-id`, "aaaaaaaa-0000-0000-0000-000000000002", 0, c);
    });
    expect(await republished).toEqual(["unique-domain-id"]);
    await h.converged(1000);
    const twice = writes.filter((p, i) => writes.indexOf(p) !== i);
    expect(twice).toEqual([]);
    expect(h.log.lines.filter((l) => /by someone else/.test(l.message))).toEqual([]);
  });

  test("rfc: dom0 removes data/memory: both memory keys come back (only one of them is watched)", async () => {
    h = await new Harness({ cli: { schema: "rfc" } }).start();
    await h.converged();
    expect(h.published().get("data/memory/available-kib")).toBe("1024000");
    h.srv.wipe(`${HOME}/data/memory`);
    await h.converged(1000, "data/memory written again");
    expect(h.published().get("data/memory/total-kib")).toBe("2048000");
  });
});
