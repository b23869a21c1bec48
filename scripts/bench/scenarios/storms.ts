// storms (issue 19 #8): what the agent's memory does under the three storms a guest can throw at
// it, next to the idle Bun program started with it:
//   netlink  20 000 address changes (200 addresses, 50 per VIF, added and removed 50 times), sent
//            in chunks through the persistent `ip -batch -`;
//   quota    one VIF grown past what C xenstored accepts in one directory (600 addresses; it
//            refuses about 530 with ENOSPC), then shrunk back to 100 in the next batch;
//   sighup   100 SIGHUPs, 10 ms apart (each one a reload and a full republish).
// For each: the peak RSS during it (VmHWM, reset through /proc/<pid>/clear_refs before the storm),
// the RSS and anonymous RSS `stormSettleS` after it, the log lines it produced, and whether the
// published tree equals the kernel's again. A missed target is printed as missed; the split into
// anonymous and file pages and the log lines are the first clues to where the memory went.
import { readFileSync, writeFileSync } from "node:fs";
import { SETTLE_AFTER_HEAVY_WORK_MS } from "../../../src/lifecycle/service-status.ts";
import { round, type Memory } from "../lib.ts";
import { difference, VIFS, type Proc } from "../rig.ts";
import { mib, rowsOf, startAgent, type Context, type Outcome, type Rig } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

interface StormResult {
  name: string;
  what: string;
  /** VmHWM during the storm (KiB), and the RssAnon reading at the highest sampled RSS. */
  peakKiB: number;
  peakSample: Memory;
  after: Memory;
  baselineAfter: Memory;
  logLines: number;
  /** Error answers of xenstored to the guest during the storm, by name (ENOSPC, EQUOTA, E2BIG, EAGAIN…). */
  errors: Record<string, number>;
  /** Until the published tree equalled the kernel's (ms), or why it did not. */
  settledMs?: number;
  treeDiff?: string;
}

function peakRssKiB(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

/** Resets VmHWM to the current RSS (clear_refs "5", Linux ≥ 4.0). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** Error replies in xenstored's trace log since `mark` (`OUT … ERROR (ENOSPC )`), by name. */
function errorAnswers(rig: Rig, mark: number): Record<string, number> {
  const text = readFileSync(rig.xs.tracePath).subarray(mark).toString("utf8");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^OUT \S+ \S+ \S+ ERROR \((E[A-Z0-9]+)/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + 1;
  return out;
}

/** Polls (the bench, not the agent) until the published addresses equal the kernel's. */
async function untilPublished(rig: Rig, agent: Proc, boundMs: number): Promise<{ ms?: number; diff?: string }> {
  const t0 = Date.now();
  let diff: string | undefined;
  while (Date.now() - t0 < boundMs) {
    if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.err.tail.slice(-3).join(" | ")}`);
    diff = difference(rig.ns.kernel(), await rig.xs.published());
    if (diff === undefined) return { ms: Date.now() - t0 };
    await Bun.sleep(200);
  }
  return { diff };
}

export default async function storms({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("storms");
  const { ns } = rig;
  const b = scope.baseline({ gcTimer: false, cold: true });
  const { agent } = await startAgent(rig, scope, { gcTimer: false, memoryInterval: 60, cold: true });
  let logLines = 0;
  agent.err.onLine(() => logLines++);
  await Promise.race([Bun.sleep(SETTLE_AFTER_HEAVY_WORK_MS + 1000), agent.died, b.died]);
  const atRest = { agent: agent.memory(), baseline: b.memory() };

  const storm = async (name: string, what: string, send: () => Promise<void>): Promise<StormResult> => {
    scope.check();
    resetPeak(agent.pid);
    const lines0 = logLines;
    const mark = rig.xs.mark();
    let peakSample = agent.memory();
    const sampler = setInterval(() => {
      const m = agent.memory();
      if (m.rssKiB > peakSample.rssKiB) peakSample = m;
    }, 100);
    let settled: { ms?: number; diff?: string };
    try {
      await send();
      settled = await untilPublished(rig, agent, 60_000);
    } finally {
      clearInterval(sampler);
    }
    const peakKiB = peakRssKiB(agent.pid);
    const logged = logLines - lines0;
    const errors = errorAnswers(rig, mark);
    await Promise.race([Bun.sleep(cfg.stormSettleS * 1000), agent.died, b.died]);
    const r = { name, what, peakKiB, peakSample, after: agent.memory(), baselineAfter: b.memory(), logLines: logged, errors, settledMs: settled.ms, treeDiff: settled.diff };
    // The next storm starts from the rig's base addresses, published.
    ns.reset();
    await untilPublished(rig, agent, 30_000);
    return r;
  };

  const results: StormResult[] = [];
  // netlink: 200 addresses toggled, in chunks of 1 000 lines so `ip` and the kernel keep up.
  const per = 50;
  const addrs = [...Array(VIFS).keys()].flatMap((n) => Array.from({ length: per }, (_, i) => ({ n, a: `10.210.${n}.${i + 1}` })));
  const rounds = Math.ceil(cfg.stormChanges / (2 * addrs.length));
  results.push(
    await storm("netlink", `${rounds * 2 * addrs.length} address changes (${addrs.length} addresses added and removed ${rounds}×)`, async () => {
      const lines = [];
      for (let r = 0; r < rounds; r++) {
        for (const op of ["add", "del"]) for (const { n, a } of addrs) lines.push(`addr ${op} ${a}/32 dev eth${n}`);
      }
      for (let i = 0; i < lines.length; i += 1000) {
        ns.batch(lines.slice(i, i + 1000));
        await Bun.sleep(5);
      }
    }),
  );
  // quota: eth0 past the daemon's directory limit, then back to 100 addresses.
  const big = Array.from({ length: 600 }, (_, i) => `10.211.${i >> 8}.${(i & 255) + 1}`);
  results.push(
    await storm("quota", `eth0 grown to ${big.length + 1} IPv4 addresses in one batch, then shrunk to 101`, async () => {
      ns.batch(big.map((a) => `addr add ${a}/32 dev eth0`));
      await Bun.sleep(1500); // the agent publishes the big state (and meets the quota) first
      ns.batch(big.slice(100).map((a) => `addr del ${a}/32 dev eth0`));
    }),
  );
  // sighup: reloads back to back.
  results.push(
    await storm("sighup", `${cfg.stormSighups} SIGHUPs, 10 ms apart`, async () => {
      for (let i = 0; i < cfg.stormSighups; i++) {
        agent.proc.kill("SIGHUP");
        await Bun.sleep(10);
      }
      await Bun.sleep(2000); // the last reload's republish
    }),
  );

  for (const r of results) {
    row({
      metric: `${r.name}: ${r.what}: peak RSS during (VmHWM; RssAnon at the highest sample)`,
      value: `${mib(r.peakKiB)} MiB (${mib(r.peakSample.rssAnonKiB)} MiB anon of ${mib(r.peakSample.rssKiB)} MiB sampled); ${r.logLines} log lines; xenstored errors: ${Object.entries(r.errors).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}; tree ${r.treeDiff === undefined ? `= kernel after ${r.settledMs} ms` : `≠ kernel after 60 s: ${r.treeDiff}`}`,
      baseline: `${mib(atRest.baseline.rssKiB)} MiB at rest`,
      ...judge(TARGETS.stormPeakRssKiB, r.peakKiB),
    });
    row({
      metric: `  ${r.name}: RSS ${cfg.stormSettleS} s after (anonymous)`,
      value: `${mib(r.after.rssKiB)} MiB (${mib(r.after.rssAnonKiB)} MiB)`,
      baseline: `${mib(r.baselineAfter.rssKiB)} MiB (${mib(r.baselineAfter.rssAnonKiB)} MiB)`,
      ratio: `${round(r.after.rssKiB / r.baselineAfter.rssKiB, 2)}×`,
      ...judge(TARGETS.stormAfterRatio, r.after.rssKiB / r.baselineAfter.rssKiB),
    });
  }
  return { rows, result: { atRest, storms: results } };
}
