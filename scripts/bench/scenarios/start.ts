// start: exec → the first full publish (data/updated) seen by a dom0 watcher; baseline: exec →
// the idle program's "ready".
import { median, round, summary } from "../lib.ts";
import { difference } from "../rig.ts";
import { ms, rowsOf, startAgent, type Context, type Outcome } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

export default async function start({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("start");
  const agentMs: number[] = [];
  const selfMs: number[] = [];
  const baseMs: number[] = [];
  for (let i = 0; i < cfg.startRuns; i++) {
    scope.check();
    const { agent, startMs } = await startAgent(rig, scope, { gcTimer: false });
    agentMs.push(startMs);
    const own = await agent.err.waitFor((l) => /first publish after \d+ ms/.test(l), 2000, "the agent's start-up log line", true).catch(() => undefined);
    if (own) selfMs.push(Number(/first publish after (\d+) ms/.exec(own.line)![1]));
    const diff = difference(rig.ns.kernel(), await rig.xs.published());
    if (diff) throw new Error(`first publish is not the kernel's state: ${diff}`);
    await agent.stop();
    const b = scope.baseline({ gcTimer: false });
    const ready = await Promise.race([b.out.waitFor((l) => l === "ready", 5000, "the baseline's ready line"), b.died]);
    baseMs.push(ms(ready.t - b.t0));
    await b.stop();
  }
  const a = summary(agentMs);
  const b = summary(baseMs);
  const result = { agentMs: agentMs.map((v) => round(v, 2)), agentOwnMs: selfMs, baselineMs: baseMs.map((v) => round(v, 2)) };
  row({
    metric: `exec → first full publish seen by dom0, median of ${a.n} (min–max)`,
    value: `${round(a.p50)} ms (${round(a.min)}–${round(a.max)})`, baseline: `${round(b.p50)} ms (exec → "ready")`,
    ratio: `${round(a.p50 / b.p50, 1)}×`, ...judge(TARGETS.startMs, a.p50),
  });
  if (selfMs.length) row({ metric: "agent's own log: first publish after", value: `${median(selfMs)} ms (median)` });
  return { rows, result };
}

