// reaction: `ip addr add|del` through a persistent `ip -batch -` → the key's watch event on dom0.
import { monotonicNs } from "../../../native/monotonic.ts";
import { round, summary } from "../lib.ts";
import { difference } from "../rig.ts";
import { ms, rowsOf, startAgent, type Context, type Outcome } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

export default async function reaction({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("reaction");
  const { xs, ns } = rig;
  const { agent } = await startAgent(rig, scope, { gcTimer: false });
  await Promise.race([Bun.sleep(1000), agent.died]);
  const key = `${xs.base}/attr/vif/0/ipv4/`;
  const add: number[] = [];
  const del: number[] = [];
  for (let i = 0; i < cfg.reactionChanges; i++) {
    scope.check();
    const pair = i >> 1;
    const op = i % 2 === 0 ? "add" : "del";
    const seen = xs.next((e) => e.path.startsWith(key), 5000, `the watch event for change ${i} (${op})`);
    const done = xs.next((e) => e.path === `${xs.base}/data/updated`, 5000, `data/updated after change ${i}`);
    const t0 = monotonicNs();
    ns.batch([`addr ${op} 10.99.${pair >> 8}.${pair & 255}/32 dev eth0`]);
    const ev = await Promise.race([seen, agent.died]);
    (op === "add" ? add : del).push(ms(ev.t - t0));
    await Promise.race([done, agent.died]);
    await Bun.sleep(20 + Math.random() * 30); // beyond the 10 ms coalescing window, random phase
  }
  const diff = difference(ns.kernel(), await xs.published());
  if (diff) throw new Error(`after the changes the published tree differs from the kernel: ${diff}`);
  const all = summary([...add, ...del]);
  const result = { method: "persistent `ip -force -batch -` in the namespace", ms: { all, add: summary(add), del: summary(del) } };
  row({
    metric: `ip addr add/del → key's watch event on dom0, ${all.n} changes (ip -batch)`,
    value: `p50 ${round(all.p50, 2)} ms, p99 ${round(all.p99, 2)} ms, max ${round(all.max, 1)} ms`, ...judge(TARGETS.reactionP99Ms, all.p99),
  });
  row({ metric: "  of which add / del (p50)", value: `${round(summary(add).p50, 2)} / ${round(summary(del).p50, 2)} ms` });
  return { rows, result };
}

