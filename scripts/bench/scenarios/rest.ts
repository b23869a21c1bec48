// rest: xenstore writes with memory flat and changing (--memory-interval 1, extrapolated).
import { monotonicNs } from "../../../native/monotonic.ts";
import { round } from "../lib.ts";
import { rowsOf, startAgent, type Context, type Outcome } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

export default async function rest({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("rest");
  const { xs, root, clock } = rig;
  const interval = 1;
  const { agent } = await startAgent(rig, scope, { gcTimer: false, memoryInterval: interval });
  await Promise.race([Bun.sleep(2500), agent.died]);
  const W = cfg.restWindowS;
  const window = async (during?: () => void) => {
    const mark = xs.mark();
    const t0 = monotonicNs();
    const timer = during ? setInterval(during, 500) : undefined;
    try {
      await Promise.race([Bun.sleep(W * 1000), agent.died]);
    } finally {
      clearInterval(timer);
    }
    await Bun.sleep(300); // a publish in flight at the end
    return { ...xs.guestOps(mark), clockSteps: clock.between(t0, monotonicNs()) };
  };
  // Flat: the fixture's proc/meminfo does not change.
  const flat = await window();
  // Changing: MemAvailable moves every 500 ms, so every 1 s read sees a new value.
  const base = root.memAvailable();
  let k = 0;
  const changing = await window(() => root.setMemAvailable(base - 4096 * (++k % 50)));
  const perTick = (o: typeof flat) => o.steady / (W / interval);
  const extra = (o: typeof flat) => (o.republishes ? `; +${o.republishOps} in ${o.republishes} full republish(es) after ${o.clockSteps} clock step(s) by other processes` : "");
  const result = { memoryIntervalS: interval, windowS: W, flat, changing };
  row({
    metric: `memory flat: writes in ${W} s at --memory-interval ${interval} → per hour`,
    value: `${flat.steady} → ${round(perTick(flat) * 3600, 0)}/h${extra(flat)}`, ...judge(TARGETS.restFlatWrites, flat.steady),
  });
  row({
    metric: `memory changing: writes per interval (${changing.steady} in ${W} ticks) → per hour at the default 60 s`,
    value: `${round(perTick(changing), 2)} → ${round(perTick(changing) * 60, 0)}/h (${Object.entries(changing.byKey).map(([kk, v]) => `${kk} ${v}`).join(", ")})${extra(changing)}`,
    ...judge(TARGETS.restChangingWritesPerTick, perTick(changing)),
  });
  return { rows, result };
}

