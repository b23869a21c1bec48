// idle: CPU ticks and context switches of all threads over a window at rest, GC timer on and off,
// next to the idle Bun program.
import { monotonicNs } from "../../../native/monotonic.ts";
import { threadDelta, threadTotals, type ThreadTotals } from "../lib.ts";
import { rowsOf, startAgent, type Context, type Outcome } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

export default async function idle({ cfg, rig, scope, say }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("idle");
  const out: Record<string, unknown> = {};
  for (const gcTimer of [false, true]) {
    const label = gcTimer ? "GC timer on (Bun default)" : "BUN_GC_TIMER_DISABLE=1 (the systemd unit)";
    const b = scope.baseline({ gcTimer });
    const { agent, publishedAt } = await startAgent(rig, scope, { gcTimer, memoryInterval: 60 });
    await Promise.race([Bun.sleep(cfg.idleSettleS * 1000), agent.died, b.died]);
    // The memory timer is a setInterval started right after the first publish: it fires at
    // publishedAt + k × 60 s. A main-thread wake-up within 15 s after a tick is the tick's (its
    // reads allocate, and JSC may collect a little later); any other is a wake-up of its own.
    const afterTick = (t: bigint) => Number((t - publishedAt) % 60_000_000_000n) / 1e9 <= 15;
    // A window in which another process stepped the wall clock (the agent then republishes
    // everything) is taken again, at most twice; the last one is kept and flagged.
    let w;
    for (let attempt = 1; ; attempt++) {
      scope.check();
      const mark = rig.xs.mark();
      const t0 = monotonicNs();
      const [a0, b0] = [threadTotals(agent.pid), threadTotals(b.pid)];
      // Read every second as well: the seconds in which a thread other than mimalloc's purge
      // thread (which follows any activity by itself) switched are the wake-ups, whatever they
      // cost. A periodic wake-up shows as ~60 active seconds, one timer tick as 1–2.
      // Summing the per-second deltas also counts threads that lived only inside the window
      // (a collection's HeapHelper, JSCWarmUp), which a before/after difference would lose.
      // "main": seconds in which the main thread (the event loop: our code) switched; "any": in
      // which any thread but mi-scavenger did (JIT, GC helpers that follow the loop's work too).
      const active = { agent: { main: 0, any: 0, untimed: 0, at: [] as number[] }, baseline: { main: 0, any: 0, untimed: 0, at: [] as number[] } };
      const sum = { agent: emptyDelta(), baseline: emptyDelta() };
      let [ap, bp] = [a0, b0];
      const startedAt = Date.now();
      const endAt = startedAt + cfg.idleWindowS * 1000;
      const note = (who: "agent" | "baseline", pid: number, before: ThreadTotals, after: ThreadTotals) => {
        if (woke(before, after, () => true)) {
          active[who].any++;
          active[who].at.push(Math.round((Date.now() - startedAt) / 1000));
        }
        if (woke(before, after, (tid) => tid === String(pid))) {
          active[who].main++;
          if (who === "agent" && !afterTick(monotonicNs())) active[who].untimed++;
        }
      };
      while (Date.now() < endAt) {
        await Promise.race([Bun.sleep(Math.min(1000, Math.max(0, endAt - Date.now()))), agent.died, b.died]);
        const [an, bn] = [threadTotals(agent.pid), threadTotals(b.pid)];
        note("agent", agent.pid, ap, an);
        note("baseline", b.pid, bp, bn);
        addDelta(sum.agent, threadDelta(ap, an));
        addDelta(sum.baseline, threadDelta(bp, bn));
        [ap, bp] = [an, bn];
      }
      const ops = rig.xs.guestOps(mark);
      w = { agent: sum.agent, baseline: sum.baseline, activeSeconds: active, ops, clockSteps: rig.clock.between(t0, monotonicNs()), attempt };
      if ((w.clockSteps === 0 && ops.republishes === 0) || attempt >= 3) break;
      say(`[idle] ${label}: ${w.clockSteps} clock step(s) by another process in the window; measuring again`);
    }
    const mem = { agent: agent.memory(), baseline: b.memory() };
    out[gcTimer ? "gcTimerOn" : "gcTimerOff"] = { ...w, memory: mem };
    await Promise.all([agent.stop(), b.stop()]);
    const da = w.agent;
    const db = w.baseline;
    const names = (d: typeof da) => Object.entries(d.byName).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    const perturbed = w.clockSteps > 0 || w.ops.republishes > 0;
    row({
      metric: `${cfg.idleWindowS} s at rest, ${label}: context switches (all threads) / CPU ticks; seconds in which the main thread / any thread woke`,
      value: `${da.switches} / ${da.ticks}; ${w.activeSeconds.agent.main} / ${w.activeSeconds.agent.any} s, ${w.activeSeconds.agent.untimed} not after a timer tick (${names(da)}; ${da.threads} threads)${perturbed ? ` PERTURBED: ${w.clockSteps} clock step(s) by other processes, ${w.ops.republishes} republish(es)` : ""}`,
      baseline: `${db.switches} / ${db.ticks}; ${w.activeSeconds.baseline.main} / ${w.activeSeconds.baseline.any} s (${names(db)}; ${db.threads} threads)`,
      ratio: `${da.switches - db.switches >= 0 ? "+" : ""}${da.switches - db.switches} switches`,
      ...(gcTimer ? {} : judge(TARGETS.idleWakeups, { ticks: da.ticks, untimedMainWakeups: w.activeSeconds.agent.untimed })),
    });
    if (w.ops.steady) row({ metric: `  xenstore writes during the window (${label})`, value: String(w.ops.steady) });
  }
  return { rows, result: out };
}

type Delta = ReturnType<typeof threadDelta>;

function emptyDelta(): Delta {
  return { ticks: 0, switches: 0, byName: {}, threads: 0, started: 0, ended: 0 };
}

function addDelta(sum: Delta, d: Delta): void {
  sum.ticks += d.ticks;
  sum.switches += d.switches;
  for (const [k, v] of Object.entries(d.byName)) sum.byName[k] = (sum.byName[k] ?? 0) + v;
  sum.threads = d.threads;
  sum.started += d.started;
  sum.ended += d.ended;
}

/** Did a thread chosen by `which` (never mimalloc's purge thread) switch between two readings? */
function woke(before: ThreadTotals, after: ThreadTotals, which: (tid: string) => boolean): boolean {
  return Object.entries(after.byTid).some(
    ([tid, t]) => which(tid) && t.name !== "mi-scavenger" && t.switches > (before.byTid[tid]?.switches ?? 0),
  );
}

