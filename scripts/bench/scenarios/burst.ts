// burst: 1 000 address changes in one batch → published tree equals the kernel; the guest's
// requests counted from xenstored's trace log.
import { monotonicNs } from "../../../native/monotonic.ts";
import { median, round } from "../lib.ts";
import { difference, VIFS, type Proc, type Xenstore } from "../rig.ts";
import { ms, rowsOf, startAgent, type Context, type Outcome, type Rig, type Scope } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

interface BurstResult {
  changes: number;
  ms: number;
  firstEventMs: number;
  keysChanged: number;
  ops: ReturnType<Xenstore["guestOps"]>;
  publishes: number;
}

/** Sends `lines` in one write, waits until the published tree equals the kernel's, counts the guest's requests. */
async function measureBurst(rig: Rig, scope: Scope, agent: Proc, lines: string[], expectV4: (n: number) => Set<string>): Promise<BurstResult> {
  const { xs, ns } = rig;
  const before = await xs.tree("attr/vif");
  const mark = xs.mark();
  xs.record();
  const vifPrefix = `${xs.base}/attr/vif/`;
  const t0 = monotonicNs();
  ns.batch(lines);
  const deadline = Date.now() + 20_000;
  let lastVif: bigint | undefined;
  for (;;) {
    scope.check();
    if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.err.tail.slice(-3).join(" | ")}`);
    // Quiet: no attr/vif event for 300 ms, then compare with the kernel.
    const vifEvents = xs.log.filter((e) => e.path.startsWith(vifPrefix));
    const last = vifEvents.at(-1)?.t;
    if (last !== undefined && ms(monotonicNs() - last) >= 300) {
      const kernel = ns.kernel();
      const expectedDone = [...Array(VIFS).keys()].every((n) => setEq(kernel.get(n)!.ipv4, expectV4(n)));
      if (expectedDone && difference(kernel, await xs.published()) === undefined) {
        lastVif = last;
        break;
      }
    }
    if (Date.now() > deadline) {
      const d = difference(ns.kernel(), await xs.published());
      throw new Error(`the published tree did not reach the kernel's state in 20 s: ${d ?? "kernel not at the expected state"}; ip errors: ${ns.batchErrors().slice(-2).join(" | ")}`);
    }
    await Bun.sleep(50);
  }
  await Bun.sleep(200); // the batch's trailing data/updated
  xs.stopRecording();
  const firstVif = xs.log.find((e) => e.path.startsWith(vifPrefix))!.t;
  const publishes = xs.log.filter((e) => e.path === `${xs.base}/data/updated`).length;
  const ops = xs.guestOps(mark);
  const after = await xs.tree("attr/vif");
  let keysChanged = 0;
  for (const [k, v] of after) if (before.get(k) !== v) keysChanged++;
  for (const k of before.keys()) if (!after.has(k)) keysChanged++;
  return { changes: lines.length, ms: ms(lastVif - t0), firstEventMs: ms(firstVif - t0), keysChanged, ops, publishes };
}

function setEq(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

export default async function burst({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("burst");
  const { agent } = await startAgent(rig, scope, { gcTimer: false });
  await Promise.race([Bun.sleep(1000), agent.died]);
  const per = cfg.burstPerVif;
  const set = (round: number, n: number) => Array.from({ length: per }, (_, i) => `10.${100 + round}.${n}.${i + 1}`);
  const expect = (round: number) => (n: number) => new Set([`10.0.${n}.2`, ...set(round, n)]);
  const adds = (round: number) => [...Array(VIFS).keys()].flatMap((n) => set(round, n).map((a) => `addr add ${a}/32 dev eth${n}`));
  const dels = (round: number) => [...Array(VIFS).keys()].flatMap((n) => set(round, n).map((a) => `addr del ${a}/32 dev eth${n}`));

  const fill = await measureBurst(rig, scope, agent, adds(0), expect(0));
  const rounds: BurstResult[] = [];
  for (let r = 1; r <= cfg.burstRounds; r++) {
    await Bun.sleep(500);
    rounds.push(await measureBurst(rig, scope, agent, [...dels(r - 1), ...adds(r)], expect(r)));
  }
  const result = { fill, rounds };
  const show = (label: string, list: BurstResult[]) => {
    const t = median(list.map((b) => b.ms));
    const ratio = median(list.map((b) => b.ops.steady / b.keysChanged));
    const x = list[Math.floor(list.length / 2)]!;
    const rep = list.reduce((n, b) => n + b.ops.republishes, 0);
    row({
      metric: `${label}: ${x.changes} changes → published tree = kernel${list.length > 1 ? `, median of ${list.length}` : ""}`,
      value: `${round(t, 0)} ms (first key after ${round(median(list.map((b) => b.firstEventMs)), 0)} ms)`, ...judge(TARGETS.burstMs, t),
    });
    row({
      metric: `${label}: xenstore requests / keys changed`,
      value: `${x.ops.steady} / ${x.keysChanged} = ${round(ratio, 2)} (${x.ops.writes} WRITE, ${x.ops.rms} RM, ${x.ops.updated} data/updated in ${x.publishes} publishes)` +
        (rep ? `; ${rep} full republish(es) after clock steps by other processes left out` : ""),
      ...judge(TARGETS.burstRequestsPerKey, ratio),
    });
  };
  show(`add ${fill.changes}`, [fill]);
  show(`replace ${per * VIFS} (del ${per * VIFS} + add ${per * VIFS})`, rounds);
  return { rows, result };
}

