// fsfreeze on real filesystems: a loop-mounted ext4 and xfs image in a private mount namespace
// (held open by a `sleep` so a killed agent does not take the mounts with it), the agent process
// (`bun src/main.ts run` with `[requests] fsfreeze = true`) on a guest ring of the real C xenstored, and the test playing
// dom0 with src/host/fsfreeze.ts. A write from another process in the namespace must block while
// frozen (checked with a bounded wait) and finish after the thaw.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { XenstoreClient } from "../../../src/xenstore/client.ts";
import { SocketTransport } from "../../../src/xenstore/socket-transport.ts";
import { sendFsfreeze } from "../../../src/host/fsfreeze.ts";
import { FEATURE_KEY_FALLBACK, STATE_KEY } from "../../../src/requests/fsfreeze/protocol.ts";
import { Lines } from "../../support/lines.ts";
import { realXenstoredUnavailable, startRealXenstored, type RealXenstored } from "../../support/xenstored.ts";

const MAIN = resolve(import.meta.dir, "../../../src/main.ts");
const BUN = process.execPath;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (loop devices, mount namespaces, FIFREEZE)";
  for (const tool of ["unshare", "nsenter", "losetup", "mkfs.ext4", "mkfs.xfs", "mount", "fsfreeze"]) {
    if (!Bun.which(tool)) return `${tool} not installed${tool === "mkfs.xfs" ? " (apt package xfsprogs)" : ""}`;
  }
  const probe = Bun.spawnSync(["losetup", "-f"]);
  if (probe.exitCode !== 0) return `no free loop device: ${probe.stderr.toString().trim()}`;
  return realXenstoredUnavailable("c");
}

const skip = unavailable();
if (skip) console.log(`skipped: fsfreeze filesystem tests: ${skip}`);

const sh = (cmd: string[]) => {
  const p = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${p.stderr.toString().trim()}`);
};

describe.skipIf(skip !== undefined)("fsfreeze on loop-mounted ext4 and xfs", () => {
  let dir: string;
  let holder: Bun.Subprocess;
  let xs: RealXenstored;
  let dom0: XenstoreClient;
  let ext4: string;
  let xfs: string;
  const agents = new Set<{ proc: Bun.Subprocess; err: Lines }>();

  /** Runs in the namespace of the mounts. */
  const inNs = (cmd: string[]) => ["nsenter", "-t", String(holder.pid), "-m", "--", ...cmd];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "xga-fsfreeze-"));
    ext4 = join(dir, "ext4");
    xfs = join(dir, "xfs");
    for (const [img, mkfs] of [["ext4.img", ["mkfs.ext4", "-q", "-F"]], ["xfs.img", ["mkfs.xfs", "-q", "-f"]]] as const) {
      sh(["truncate", "-s", "320M", join(dir, img)]);
      sh([...mkfs, join(dir, img)]);
    }
    mkdirSync(ext4);
    mkdirSync(xfs);
    holder = Bun.spawn(["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
      `mount -o loop ${dir}/ext4.img ${ext4} && mount -o loop ${dir}/xfs.img ${xfs} && echo mounted && exec sleep 100000`], { stdout: "pipe", stderr: "pipe" });
    const out = new Lines(holder.stdout as ReadableStream<Uint8Array>);
    await out.waitFor(/^mounted$/, 10_000);
    xs = await startRealXenstored("c");
    dom0 = new XenstoreClient(new SocketTransport(xs.dom0SocketPath), { timeoutMs: 5000 });
  }, 60_000);

  afterEach(async () => {
    for (const a of agents) {
      a.proc.kill("SIGKILL");
      await a.proc.exited;
    }
    agents.clear();
    // Whatever a test left frozen is thawed before anything else can trip on it.
    for (const m of [ext4, xfs]) Bun.spawnSync(inNs(["fsfreeze", "-u", m]), { stderr: "ignore" });
    await dom0?.rm(`/local/domain/${xs.domid}/data/fsfreeze`).catch(() => {});
  });

  afterAll(async () => {
    for (const m of [ext4, xfs]) Bun.spawnSync(inNs(["fsfreeze", "-u", m]), { stderr: "ignore" });
    holder?.kill("SIGKILL");
    await holder?.exited;
    dom0?.close();
    await xs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The agent in the namespace, serving fsfreeze on the guest ring; resolves once advertised. */
  async function startAgent(extra: string[] = []) {
    await dom0.rm(`/local/domain/${xs.domid}/${FEATURE_KEY_FALLBACK}`).catch(() => {});
    const config = join(dir, "config.toml");
    writeFileSync(config, "[requests]\nfsfreeze = true\n");
    const proc = Bun.spawn(inNs([BUN, MAIN, "run", "-s", "-l", "debug", "--config", config, "--no-vcpu-hotplug", "--no-raise-freeze-timeout",
      "--fsfreeze-marker", join(dir, "run", "fsfreeze.json"), "--fsfreeze-hooks", join(dir, "no-hooks"), ...extra]), {
      stdin: "ignore", stdout: "ignore", stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", XENSTORED_PATH: xs.guestSocketPath },
    });
    const agent = { proc, err: new Lines(proc.stderr) };
    agents.add(agent);
    const deadline = Date.now() + 15_000;
    while ((await dom0.read(`/local/domain/${xs.domid}/${FEATURE_KEY_FALLBACK}`).catch(() => "")) !== "1") {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`agent not serving fsfreeze:\n${agent.err.all.slice(-20).join("\n")}`);
      await Bun.sleep(50);
    }
    return agent;
  }

  /** A write of a new file from another process; `done` resolves with its exit status. */
  function writer(mount: string) {
    const p = Bun.spawn(inNs(["sh", "-c", `echo data > ${mount}/file-$$ && sync -f ${mount}`]), { stderr: "pipe" });
    return { done: p.exited, exited: () => p.exitCode !== null, kill: () => p.kill("SIGKILL") };
  }

  /** True when the writer is still blocked after `ms` (the bounded wait), false if it finished. */
  async function blocked(w: ReturnType<typeof writer>, ms = 1000): Promise<boolean> {
    return (await Promise.race([w.done.then(() => false), Bun.sleep(ms).then(() => true)]));
  }

  const send = (req: Parameters<typeof sendFsfreeze>[2]) => sendFsfreeze(dom0, xs.domid, req, 15_000);
  const state = () => dom0.read(`/local/domain/${xs.domid}/${STATE_KEY}`);

  test("a writer blocks while frozen and completes after the thaw; log lines wait for the thaw", async () => {
    const agent = await startAgent();
    const frozen = await send({ op: "freeze", mounts: [ext4, xfs] });
    expect(frozen).toMatchObject({ ok: true, state: "frozen", timeout: 10 });
    expect(new Set(frozen.mounts)).toEqual(new Set([ext4, xfs]));
    expect(await state()).toBe("frozen");
    const w1 = writer(ext4);
    const w2 = writer(xfs);
    expect(await blocked(w1)).toBe(true);
    expect(await blocked(w2, 100)).toBe(true);
    expect(agent.err.all.some((l) => l.includes("froze "))).toBe(false); // held while frozen
    const thawed = await send({ op: "thaw" });
    expect(thawed).toMatchObject({ ok: true, state: "thawed", thawedBy: "request", freezeId: frozen.id });
    expect(thawed.frozenMs).toBeGreaterThanOrEqual(1000);
    expect(await Promise.race([Promise.all([w1.done, w2.done]), Bun.sleep(10_000).then(() => "still blocked")])).toEqual([0, 0]);
    await agent.err.waitFor(/froze .* for request/);
  }, 60_000);

  test("the automatic thaw fires with no thaw request", async () => {
    await startAgent(["--fsfreeze-timeout", "5"]);
    const frozen = await send({ op: "freeze", mounts: [ext4], timeout: 1 });
    expect(frozen).toMatchObject({ ok: true, timeout: 1 });
    const w = writer(ext4);
    expect(await Promise.race([w.done, Bun.sleep(10_000).then(() => "still blocked")])).toBe(0);
    expect(await send({ op: "status" })).toMatchObject({ state: "thawed", thawedBy: "timeout", freezeId: frozen.id });
  }, 60_000);

  test("SIGTERM while frozen thaws and exits 0", async () => {
    const agent = await startAgent();
    expect(await send({ op: "freeze", mounts: [ext4, xfs] })).toMatchObject({ ok: true });
    const w = writer(xfs);
    expect(await blocked(w, 500)).toBe(true);
    agent.proc.kill("SIGTERM");
    expect(await Promise.race([agent.proc.exited, Bun.sleep(5000).then(() => "still running")])).toBe(0);
    expect(await Promise.race([w.done, Bun.sleep(5000).then(() => "still blocked")])).toBe(0);
    agents.delete(agent);
  }, 60_000);

  test("SIGKILL while frozen: the next start thaws what the marker lists", async () => {
    const first = await startAgent();
    expect(await send({ op: "freeze", mounts: [ext4] })).toMatchObject({ ok: true });
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    agents.delete(first);
    const w = writer(ext4);
    expect(await blocked(w, 500)).toBe(true); // nobody thawed it
    const second = await startAgent();
    expect(await Promise.race([w.done, Bun.sleep(10_000).then(() => "still blocked")])).toBe(0);
    await second.err.waitFor(/previous run stopped while filesystems were frozen; thawed .*ext4/);
    // The old freeze request is not carried out again by the new agent.
    expect(await state()).toBe("thawed");
  }, 60_000);

  test("a failing freeze hook aborts with its message and leaves nothing frozen", async () => {
    const hooks = join(dir, "hooks");
    mkdirSync(hooks, { recursive: true, mode: 0o755 });
    writeFileSync(join(hooks, "10-db"), "#!/bin/sh\n[ \"$1\" = freeze ] && { echo 'db: cannot flush tables' >&2; exit 4; }\nexit 0\n", { mode: 0o755 });
    await startAgent(["--fsfreeze-hooks", hooks]);
    const reply = await send({ op: "freeze", mounts: [ext4, xfs] });
    expect(reply).toMatchObject({ ok: false, state: "thawed", error: "freeze hook 10-db: exit status 4: db: cannot flush tables" });
    const w = writer(ext4);
    expect(await Promise.race([w.done, Bun.sleep(5000).then(() => "blocked")])).toBe(0);
    rmSync(hooks, { recursive: true, force: true });
  }, 60_000);

  test("a mount that cannot be frozen thaws the others again and names it", async () => {
    await startAgent();
    const reply = await send({ op: "freeze", mounts: [ext4, "/proc"] });
    expect(reply.ok).toBe(false);
    expect(reply.error).toContain("/proc: FIFREEZE");
    expect(reply.error).toContain("EOPNOTSUPP");
    const w = writer(ext4);
    expect(await Promise.race([w.done, Bun.sleep(5000).then(() => "blocked")])).toBe(0);
  }, 60_000);
});
