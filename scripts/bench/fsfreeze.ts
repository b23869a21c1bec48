#!/usr/bin/env bun
// The fsfreeze benchmark: freeze and thaw latency as dom0 sees it (request written → the guest's
// reply read back, through the real C xenstored and a guest ring bridge), p50/p99 over 20 cycles,
// and the longest time the filesystem stayed frozen as the guest measured it (last FIFREEZE →
// FITHAW). The filesystem is a 512 MiB ext4 image on a loop device in a private mount namespace,
// with a writer keeping dirty data in it (what FIFREEZE has to flush). Self-contained: the runner
// (run.ts) calls benchFsfreeze(); `bun scripts/bench/fsfreeze.ts [AGENT_BINARY]` runs it alone.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendFsfreeze } from "../../src/host/fsfreeze.ts";
import { FEATURE_KEY_FALLBACK } from "../../src/requests/fsfreeze/protocol.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { SocketTransport } from "../../src/xenstore/socket-transport.ts";
import { realXenstoredUnavailable, startRealXenstored } from "../../test/support/xenstored.ts";
import { Cleanup, REPO, round, run, summary } from "./lib.ts";

export interface FsfreezeRow {
  metric: string;
  value: string;
}

/** Why the benchmark cannot run here, or undefined. */
export function fsfreezeBenchUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (loop device, mount namespace, FIFREEZE)";
  for (const tool of ["unshare", "nsenter", "losetup", "mkfs.ext4", "fsfreeze"]) if (!Bun.which(tool)) return `${tool} not installed`;
  if (Bun.spawnSync(["losetup", "-f"]).exitCode !== 0) return "no free loop device";
  return realXenstoredUnavailable("c");
}

/** `agent`: the command that runs the agent (the built binary, or bun src/main.ts). */
export async function benchFsfreeze(agent: string[], cycles = 20): Promise<FsfreezeRow[]> {
  const why = fsfreezeBenchUnavailable();
  if (why) return [{ metric: "fsfreeze", value: `skipped: ${why}` }];
  const cleanup = new Cleanup();
  const dir = mkdtempSync(join(tmpdir(), "xga-bench-fsfreeze-"));
  cleanup.dir(dir);
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  run(["truncate", "-s", "512M", join(dir, "ext4.img")]);
  run(["mkfs.ext4", "-q", "-F", join(dir, "ext4.img")]);
  // Mounts in a namespace of their own, held by `sleep`: the agent and the writer join it.
  const spawn = (cmd: string[], env: Record<string, string> = {}) =>
    cleanup.proc(Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } }));
  const holder = spawn(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", `mount -o loop ${dir}/ext4.img ${mnt} && exec sleep 100000`]);
  const inNs = (cmd: string[]) => ["nsenter", "-t", String(holder.pid), "-m", "--", ...cmd];
  const xs = await startRealXenstored("c");
  cleanup.add(() => void xs.stop());
  const dom0 = new XenstoreClient(new SocketTransport(xs.dom0SocketPath), { timeoutMs: 10_000 });
  cleanup.add(() => dom0.close());
  try {
    for (let i = 0; !Bun.spawnSync(inNs(["mountpoint", "-q", mnt])).success; i++) {
      if (i > 200) throw new Error("the image was not mounted in the namespace");
      await Bun.sleep(25);
    }
    const marker = mkdtempSync("/dev/shm/xga-bench-fsfreeze-");
    cleanup.dir(marker);
    writeFileSync(join(dir, "config.toml"), "[requests]\nfsfreeze = true\n");
    const proc = spawn(inNs([...agent, "run", "-s", "--config", join(dir, "config.toml"), "--fsfreeze-timeout", "60", "--no-vcpu-hotplug", "--no-raise-freeze-timeout",
      "--fsfreeze-marker", join(marker, "fsfreeze.json"), "--fsfreeze-hooks", join(dir, "no-hooks")]), { XENSTORED_PATH: xs.guestSocketPath });
    for (let i = 0; (await dom0.read(`/local/domain/${xs.domid}/${FEATURE_KEY_FALLBACK}`).catch(() => "")) !== "1"; i++) {
      if (proc.exitCode !== null || i > 600) throw new Error(`the agent did not advertise fsfreeze (exit ${proc.exitCode})`);
      await Bun.sleep(25);
    }
    spawn(inNs(["sh", "-c", `while :; do dd if=/dev/zero of=${mnt}/w bs=1M count=16 2>/dev/null; done`]));
    const freezeMs: number[] = [];
    const thawMs: number[] = [];
    const frozenMs: number[] = [];
    for (let i = 0; i < cycles; i++) {
      await Bun.sleep(200); // the writer dirties the page cache again between cycles
      const t0 = performance.now();
      const f = await sendFsfreeze(dom0, xs.domid, { op: "freeze", mounts: [mnt] }, 30_000);
      const t1 = performance.now();
      if (!f.ok) throw new Error(`freeze failed: ${f.error}`);
      const t = await sendFsfreeze(dom0, xs.domid, { op: "thaw" }, 30_000);
      const t2 = performance.now();
      if (!t.ok) throw new Error(`thaw failed: ${t.error}`);
      freezeMs.push(t1 - t0);
      thawMs.push(t2 - t1);
      frozenMs.push(t.frozenMs ?? NaN);
    }
    const fz = summary(freezeMs);
    const th = summary(thawMs);
    return [
      { metric: `freeze, dom0 request → reply (ext4 with a writer), ${cycles} cycles: p50 / p99`, value: `${round(fz.p50, 1)} / ${round(fz.p99, 1)} ms` },
      { metric: `thaw, dom0 request → reply: p50 / p99`, value: `${round(th.p50, 1)} / ${round(th.p99, 1)} ms` },
      { metric: "longest time frozen (guest: FIFREEZE → FITHAW)", value: `${Math.max(...frozenMs)} ms` },
    ];
  } finally {
    // Thawed before anything is killed: the namespace must not go away with the image frozen.
    Bun.spawnSync(inNs(["fsfreeze", "-u", mnt]), { stderr: "ignore" });
    cleanup.runAll();
  }
}

if (import.meta.main) {
  const agent = process.argv[2] ? [process.argv[2]] : [process.execPath, join(REPO, "src/main.ts")];
  for (const r of await benchFsfreeze(agent)) process.stdout.write(`${r.metric}: ${r.value}\n`);
}
