// churn: RSS before / during / after minutes of address churn (16 addresses per VIF toggled in
// turn), agent next to the idle Bun program.
import { round, type Memory } from "../lib.ts";
import { difference, VIFS } from "../rig.ts";
import { mib, rowsOf, startAgent, type Context, type Outcome } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

export default async function churn({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("churn");
  const { xs, ns } = rig;
  const settle = cfg.quick ? 3 : 10;
  const sampleEveryMs = Math.max(2000, (cfg.churnMinutes * 60_000) / 60);
  const b = scope.baseline({ gcTimer: false, cold: true });
  const { agent } = await startAgent(rig, scope, { gcTimer: false, memoryInterval: 60, cold: true });
  await Promise.race([Bun.sleep(settle * 1000), agent.died, b.died]);
  const before = { agent: agent.memory(), baseline: b.memory() };
  const series: { s: number; agent: Memory; baseline: Memory }[] = [];
  const t0 = Date.now();
  const endAt = t0 + cfg.churnMinutes * 60_000;
  let publishes = 0;
  const off = xs.on((e) => {
    if (e.path === `${xs.base}/data/updated`) publishes++;
  });
  const present = new Set<string>();
  let changes = 0;
  let nextSample = t0;
  try {
    // 16 addresses per VIF toggled in turn: every change is real, the set stays small.
    while (Date.now() < endAt) {
      scope.check();
      if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.err.tail.slice(-3).join(" | ")}`);
      const n = changes % VIFS;
      const a = `10.200.${n}.${((changes >> 2) % 16) + 1}`;
      ns.batch([`addr ${present.has(a) ? "del" : "add"} ${a}/32 dev eth${n}`]);
      if (present.has(a)) present.delete(a);
      else present.add(a);
      changes++;
      if (Date.now() >= nextSample) {
        series.push({ s: round((Date.now() - t0) / 1000, 0), agent: agent.memory(), baseline: b.memory() });
        nextSample += sampleEveryMs;
      }
      await Bun.sleep(cfg.churnSpacingMs);
    }
  } finally {
    off();
  }
  series.push({ s: round((Date.now() - t0) / 1000, 0), agent: agent.memory(), baseline: b.memory() });
  ns.reset();
  await Bun.sleep(settle * 1000);
  const diff = difference(ns.kernel(), await xs.published());
  if (diff) throw new Error(`after churn the published tree differs from the kernel: ${diff}`);
  const after = { agent: agent.memory(), baseline: b.memory() };
  const peak = Math.max(...series.map((s) => s.agent.rssAnonKiB), after.agent.rssAnonKiB);
  // Under churn the anonymous RSS is a saw-tooth (garbage piles up, a collection frees it), so a
  // leak shows as rising peaks and rising floors. The first third is warm-up (the heap grows to
  // its working size); the last third is compared with the middle one.
  const during = series.filter((s) => s.s > 0);
  const third = (cfg.churnMinutes * 60) / 3;
  const first = during.filter((s) => s.s > third && s.s <= 2 * third).map((s) => s.agent.rssAnonKiB);
  const second = during.filter((s) => s.s > 2 * third).map((s) => s.agent.rssAnonKiB);
  const enough = first.length >= 2 && second.length >= 2;
  const peakRise = enough ? Math.max(...second) - Math.max(...first) : NaN;
  const floorRise = enough ? Math.min(...second) - Math.min(...first) : NaN;
  const result = { minutes: cfg.churnMinutes, changes, publishes, before, after, series, peakRiseAnonKiB: peakRise, floorRiseAnonKiB: floorRise };
  const g = (m: "agent" | "baseline", k: keyof Memory) => after[m][k] - before[m][k];
  const sign = (kib: number) => `${kib >= 0 ? "+" : ""}${mib(kib)} MiB`;
  row({
    metric: `${cfg.churnMinutes} min churn (${changes} changes, ${publishes} publishes): RSS before → after`,
    value: `${mib(before.agent.rssKiB)} → ${mib(after.agent.rssKiB)} MiB (${sign(g("agent", "rssKiB"))})`,
    baseline: `${sign(g("baseline", "rssKiB"))} over the same time`,
  });
  row({
    metric: "  anonymous RSS before → peak → after",
    value: `${mib(before.agent.rssAnonKiB)} → ${mib(peak)} → ${mib(after.agent.rssAnonKiB)} MiB`,
    baseline: `${sign(g("baseline", "rssAnonKiB"))}`,
  });
  row({
    metric: `  anonymous RSS, last third vs middle third of the churn (${during.length} readings): peak / floor`,
    value: enough ? `${sign(peakRise)} / ${sign(floorRise)}` : "too few readings (churn too short)",
    ...judge(TARGETS.churnFloorRiseKiB, enough ? floorRise : undefined),
  });
  return { rows, result };
}

