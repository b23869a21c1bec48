// Bad days, end to end: each test injects a fault into the in-process xenstored (or the host
// files), and ends with the agent alive and the guest's tree equal to what its facts call for.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { frame, MsgType, nulTerminated } from "../../src/xenstore/codec.ts";
import { XenstoreError } from "../../src/xenstore/errors.ts";
import type { PublishTarget } from "../../src/publish/publisher.ts";
import { FixtureRoot, Harness, HOME } from "./support.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Answers EAGAIN `times` times to writes of the first key written after `arm()`. */
function eagainOnce(times: number) {
  let armed = false;
  let victim: string | undefined;
  let answered = 0;
  return {
    arm: () => (armed = true),
    get answered() {
      return answered;
    },
    wrap: (t: PublishTarget): PublishTarget => ({
      name: t.name,
      write: (p, v) => {
        if (armed && victim === undefined) victim = p;
        if (p === victim && answered < times) {
          answered++;
          return Promise.reject(new XenstoreError("EAGAIN", "WRITE", p));
        }
        return t.write(p, v);
      },
      rm: (p) => t.rm(p),
    }),
  };
}

describe("xenstore faults", () => {
  test("EAGAIN 20 times to one write: retried with EAGAIN_BACKOFF until written; alive, tree equals the truth", async () => {
    const eagain = eagainOnce(20);
    h = await new Harness({ wrapTarget: eagain.wrap }).start();
    await h.converged();
    h.wipeGuestKeys();
    eagain.arm();
    h.jump?.();
    await h.converged(15_000);
    expect(eagain.answered).toBe(20);
    expect(h.sup.state).toBe("connected");
  }, 20_000);

  test("node quota full: what fits is published, the rest waits; after room is made and a trigger, everything", async () => {
    h = await new Harness().start();
    await h.converged();
    const owned = h.srv.store.ownedBy(5);
    h.wipeGuestKeys();
    const afterWipe = h.srv.store.ownedBy(5);
    // Room for a few of the agent's nodes only.
    h.srv.store.limits.nodesPerDomain = afterWipe + 4;
    const republished = h.next("republished");
    h.jump?.();
    await republished;
    expect(h.srv.store.ownedBy(5)).toBeLessThanOrEqual(afterWipe + 4);
    expect(h.log.lines.some((l) => l.level === "warn" && /quota reached/.test(l.message))).toBe(true);
    expect(h.sup.state).toBe("connected");
    h.srv.store.limits.nodesPerDomain = 1000;
    h.fireWatch("xen-guest-agent-resume-sentinel"); // a resume: refused keys are tried again
    await h.converged();
    expect(h.srv.store.ownedBy(5)).toBe(owned);
  });

  test("a malformed reply: the request fails, the agent reconnects and republishes", async () => {
    h = await new Harness().start();
    await h.converged();
    h.wipeGuestKeys();
    // A reply whose ERROR payload is not a NUL-terminated name, with the right req_id.
    h.srv.faults.rewriteNextReply((reply) => frame({ ...reply, type: MsgType.ERROR, payload: new Uint8Array([0xff, 0xfe]) }));
    h.jump?.();
    await h.converged();
    expect(h.sup.state).toBe("connected");
  });

  test("an oversized reply (length 1 MiB in the header): stream out of sync, reconnect, republish", async () => {
    h = await new Harness().start();
    await h.converged();
    h.wipeGuestKeys();
    h.srv.faults.rewriteNextReply((reply) => {
      const bytes = frame(reply);
      new DataView(bytes.buffer).setUint32(12, 1 << 20, true);
      return bytes;
    });
    const reconnected = h.next("reconnected");
    h.jump?.();
    await reconnected;
    await h.converged();
  });

  test("a reply with an unknown req_id: logged and dropped, nothing else changes", async () => {
    h = await new Harness().start();
    await h.converged();
    h.srv.faults.inject(frame({ type: MsgType.READ, reqId: 0x7fff_fff0, txId: 0, payload: nulTerminated("stray") }));
    h.wipeGuestKeys();
    h.jump?.();
    await h.converged();
    expect(h.connects).toBe(1);
    expect(h.log.lines.some((l) => l.message.includes("unknown req_id"))).toBe(true);
  });

  test("a request never answered: times out (1 s), reconnect, republish", async () => {
    h = await new Harness({ cli: { "xenstore-timeout": 1 } }).start();
    await h.converged();
    h.wipeGuestKeys();
    h.srv.faults.swallowNext(1);
    const reconnected = h.next("reconnected", 3000);
    h.jump?.();
    await reconnected;
    await h.converged();
  });

  test("SIGHUP during a batch: the batch finishes or stops, the new configuration is published", async () => {
    let writes = 0;
    let onWrite: (() => void) | undefined;
    h = new Harness({
      wrapTarget: (t) => ({
        name: t.name,
        write: (p, v) => {
          writes++;
          onWrite?.();
          return t.write(p, v);
        },
        rm: (p) => t.rm(p),
      }),
    });
    await h.start();
    await h.converged();
    h.srv.faults.delayReplies(2);
    h.wipeGuestKeys();
    const inBatch = new Promise<void>((resolve) => (onWrite = resolve));
    h.jump?.();
    await inBatch;
    onWrite = undefined;
    h.cli = { ...h.cli, extended: true };
    expect(await h.sup.reload()).toBe(true);
    h.srv.faults.delayReplies(0);
    await h.converged();
    expect(h.sup.config.extended).toBe(true);
    expect(writes).toBeGreaterThan(0);
  });

  test("the guest's whole domain replaced while disconnected: reconnect republishes into the new tree", async () => {
    h = await new Harness().start();
    await h.converged();
    const reconnected = h.next("reconnected");
    h.srv.faults.dropConnections();
    h.replaceDomain();
    await reconnected;
    await h.converged();
    expect(h.srv.store.lookup(`${HOME}/data`)).toBeDefined();
  });
});

describe("hostile host files", () => {
  const hostile = {
    "etc/os-release": [
      `NAME="${"A".repeat(5000)}`,
      "ID=../../etc\u0000passwd",
      'VERSION_ID="12\\"; rm -rf /"',
      `PRETTY_NAME='unterminated`,
      "=novalue",
      "\u00ff\u00fe garbage \u202e bidi",
      `VERSION="${"\u{1F600}".repeat(2000)}"`,
      "X".repeat(300_000),
    ].join("\n"),
    "proc/meminfo": [
      "MemTotal: -5 kB",
      "MemFree: 99999999999999999999999999 kB",
      "MemAvailable: NaN kB",
      "Garbage line with no colon",
      `${"Z".repeat(70_000)}: 1 kB`,
    ].join("\n"),
    "proc/sys/kernel/hostname": `${"h".repeat(5000)}\u0000.evil\n`,
  };

  test("junk os-release, meminfo and host name: alive, every value within limits, tree equals the truth", async () => {
    const root = new FixtureRoot(hostile);
    h = await new Harness({ root }).start();
    await h.converged();
    for (const [k, v] of h.published()) {
      expect(Buffer.byteLength(v)).toBeLessThanOrEqual(2048);
      expect(k).not.toContain("\u0000");
    }
    expect(h.sup.state).toBe("connected");
    await h.stop();
    h = undefined;
    root.remove();
  });

  test("the files turn hostile, then SIGHUP re-reads them: alive, tree equals the truth", async () => {
    const root = new FixtureRoot();
    h = await new Harness({ root }).start();
    await h.converged();
    root.write(hostile);
    expect(await h.sup.reload()).toBe(true);
    await h.converged();
    await h.stop();
    h = undefined;
    root.remove();
  });
});

describe("host files that are not files (issue 19 #6)", () => {
  test("a FIFO at etc/os-release and /dev/zero at proc/meminfo: the agent starts, publishes, and still notices a migration", async () => {
    const root = new FixtureRoot();
    rmSync(join(root.dir, "etc/os-release"));
    expect(Bun.spawnSync(["mkfifo", join(root.dir, "etc/os-release")]).exitCode).toBe(0);
    rmSync(join(root.dir, "proc/meminfo"));
    // The real /dev/zero device node, inside the root (a link to /dev/zero would resolve in the root).
    expect(Bun.spawnSync(["mknod", join(root.dir, "proc/meminfo"), "c", "1", "5"]).exitCode).toBe(0);
    h = await new Harness({ root, uniqueDomainId: "11111111-1111-1111-1111-111111111111" }).start();
    await h.converged();
    expect(h.sup.state).toBe("connected");
    expect(process.memoryUsage.rss()).toBeLessThan(1 << 30); // /dev/zero was not read without end
    const republished = h.next("republished", 5000);
    h.wipeGuestKeys();
    h.dom0Write("unique-domain-id", "22222222-2222-2222-2222-222222222222");
    expect(await republished).toEqual(["unique-domain-id"]);
    await h.converged();
    await h.stop();
    h = undefined;
    root.remove();
  }, 20_000);
});
