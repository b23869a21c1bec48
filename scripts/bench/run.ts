#!/usr/bin/env bun
// `npm run bench`: what the agent costs inside a VM and how fast dom0 sees changes, next to a
// baseline measured in the same run. Builds dist/xen-guest-agent (scripts/build.ts) and an idle
// Bun program compiled the same way (scripts/bench/idle-baseline.ts), starts the real C
// xenstored with a guest ring bridge, a network namespace with four VIF-like links and a fixture
// root (scripts/bench/rig.ts), then runs the scenarios below, each under a wall-clock bound and
// cleaned up even when it fails. Prints a table; writes .work/bench/latest.json and latest.md.
//
//   bun scripts/bench/run.ts [--quick] [--churn-minutes 2] [--only start,reaction,…] [--all-targets]
//                            [--no-build] [--json FILE]
//
// Scenarios (see docs/performance.md for what each measures and why):
//   size      binary sizes (host; every release target with --all-targets)
//   start     exec → the first full publish (data/updated) seen by a dom0 watcher; baseline: exec → "ready"
//   memory    RSS / RssAnon at rest, agent and baseline side by side, repeated
//   reaction  `ip addr add|del` through a persistent `ip -batch -` → the key's watch event on dom0
//   burst     1 000 address changes in one batch → published tree equals the kernel; writes counted
//             from xenstored's trace log
//   rest      xenstore writes with memory flat and changing (--memory-interval 1, extrapolated)
//   idle      CPU ticks and context switches of all threads over a window, GC timer on and off
//   churn     RSS before / during / after address churn
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { monotonicNs } from "../../native/monotonic.ts";
import {
  Cleanup, fileSize, machine, median, REPO, round, run, summary, threadDelta, threadTotals, withTimeout,
  type Memory, type ThreadTotals,
} from "./lib.ts";
import { RUNTIME_FLAGS } from "../build.ts";
import { SETTLE_AFTER_FULL_PUBLISH_MS } from "../../src/lifecycle/service-status.ts";
import { ClockSteps, difference, FixtureRoot, launcher, Netns, ptyRelayUnavailable, rigUnavailable, VIFS, Xenstore, type Launcher, type Proc } from "./rig.ts";

// --- options -------------------------------------------------------------------------------

const { values: argv } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "churn-minutes": { type: "string" },
    only: { type: "string" },
    "all-targets": { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (argv.help) {
  process.stdout.write(
    "usage: bun scripts/bench/run.ts [--quick] [--churn-minutes N] [--only size,start,memory,reaction,burst,rest,idle,churn]\n" +
      "                                [--all-targets] [--no-build] [--json FILE]\n",
  );
  process.exit(0);
}
const QUICK = argv.quick;
const CFG = {
  quick: QUICK,
  startRuns: QUICK ? 3 : 10,
  memoryRuns: QUICK ? 1 : 3,
  reactionChanges: QUICK ? 50 : 200,
  burstRounds: QUICK ? 1 : 3,
  burstPerVif: 125, // 4 × 125 = 500 addresses; a burst deletes 500 and adds 500 (1 000 changes)
  restWindowS: QUICK ? 10 : 20,
  idleSettleS: QUICK ? 5 : 30,
  idleWindowS: QUICK ? 15 : 60,
  churnMinutes: argv["churn-minutes"] !== undefined ? Number(argv["churn-minutes"]) : QUICK ? 0.25 : 2,
  churnSpacingMs: 20,
};
if (!(CFG.churnMinutes >= 0)) throw new Error("--churn-minutes wants a number of minutes");
const ALL = ["size", "start", "memory", "reaction", "burst", "rest", "idle", "churn"] as const;
type Name = (typeof ALL)[number];
const ONLY = new Set((argv.only ?? ALL.join(",")).split(",").map((s) => s.trim()));
for (const n of ONLY) if (!(ALL as readonly string[]).includes(n)) throw new Error(`unknown scenario '${n}' (known: ${ALL.join(", ")})`);
const OUT_DIR = join(REPO, ".work/bench");
const JSON_OUT = argv.json ?? join(OUT_DIR, "latest.json");
const MD_OUT = JSON_OUT.replace(/\.json$/, "") + ".md";

const say = (s: string) => process.stderr.write(`${s}\n`);
const ms = (ns: bigint) => Number(ns) / 1e6;
const mib = (kib: number) => round(kib / 1024, 1);

// --- results -------------------------------------------------------------------------------

interface Row {
  scenario: Name;
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
  /** true met, false missed, undefined no target */
  ok?: boolean;
}

const rows: Row[] = [];
const results: Record<string, unknown> = {};
const errors: Record<string, string> = {};
const row = (r: Row) => rows.push(r);

// --- scenario scopes -----------------------------------------------------------------------

/**
 * What a scenario starts, stopped when it ends (or fails, or runs out of time). A scenario that
 * timed out may still be running in the background; `check()` and the closed launcher stop it at
 * its next step.
 */
class Scope {
  private readonly procs: Proc[] = [];
  closed = false;
  constructor(private readonly launch: Launcher) {}
  check(): void {
    if (this.closed) throw new Error("scenario closed");
  }
  async agent(o: Parameters<Launcher["agent"]>[0]): Promise<Proc> {
    this.check();
    const p = await this.launch.agent(o);
    this.procs.push(p);
    return p;
  }
  baseline(o: Parameters<Launcher["baseline"]>[0]): Proc {
    this.check();
    const p = this.launch.baseline(o);
    this.procs.push(p);
    return p;
  }
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}

// --- the run -------------------------------------------------------------------------------

const cleanup = new Cleanup();
const startedAt = Date.now();

async function main(): Promise<number> {
  const info = machine();
  results.machine = info;
  results.config = CFG;
  say(`machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, kernel ${info.kernel}, Bun ${info.bun}, load ${info.loadavg.join(" ")}`);

  // Build: the agent exactly as released, the baseline with the same flags.
  const agentBin = join(REPO, "dist/xen-guest-agent");
  const baselineBin = join(OUT_DIR, "idle-baseline");
  mkdirSync(OUT_DIR, { recursive: true });
  if (!argv["no-build"]) {
    say("building dist/xen-guest-agent (scripts/build.ts) …");
    run([process.execPath, join(REPO, "scripts/build.ts"), ...(argv["all-targets"] && ONLY.has("size") ? ["--all"] : [])]);
    if (argv["all-targets"] && ONLY.has("size")) run([process.execPath, join(REPO, "scripts/build.ts")]);
  }
  // Compiled the same way as the agent.
  run([process.execPath, "build", "--compile", join(REPO, "scripts/bench/idle-baseline.ts"), "--outfile", baselineBin, ...RUNTIME_FLAGS]);

  if (ONLY.has("size")) await scenario("size", 10_000, async () => size(agentBin, baselineBin));

  const needRig = [...ONLY].some((n) => n !== "size");
  if (needRig) {
    const why = rigUnavailable();
    if (why) {
      say(`SKIP every scenario but size: ${why}`);
      errors.rig = `skipped: ${why}`;
    } else {
      const ns = new Netns(cleanup);
      ns.create();
      await ns.settle();
      const root = new FixtureRoot(cleanup);
      const xs = await Xenstore.start(cleanup);
      const launch = launcher({ agentBin, baselineBin, ns, root, xs, cleanup });
      const clock = new ClockSteps();
      cleanup.add(() => clock.close());
      const rig = { ns, root, xs, launch, clock };
      try {
        // Cheap first: a failing rig shows in seconds.
        const plan: [Name, number, (r: typeof rig, s: Scope) => Promise<void>][] = [
          ["start", 120_000, start],
          ["memory", 300_000, memory],
          ["reaction", 180_000, reaction],
          ["burst", 180_000, burst],
          ["rest", 240_000, rest],
          ["idle", 2 * (CFG.idleSettleS + CFG.idleWindowS) * 1000 + 120_000, idle],
          ["churn", CFG.churnMinutes * 60_000 + 180_000, churn],
        ];
        for (const [name, bound, fn] of plan) {
          if (!ONLY.has(name)) continue;
          await scenario(name, bound, async () => {
            const scope = new Scope(launch);
            try {
              await withTimeout(fn(rig, scope), bound, `scenario ${name}`);
            } finally {
              await scope.close();
              ns.reset();
              root.resetMeminfo();
            }
          });
        }
      } finally {
        results.clockSteps = clock.available ? clock.between(0n, monotonicNs()) : "not counted (no timerfd)";
        clock.close();
        await ns.close();
        await xs.close();
      }
    }
  }

  results.loadavgAfter = machine().loadavg;
  results.seconds = Math.round((Date.now() - startedAt) / 1000);
  results.rows = rows;
  results.errors = errors;
  report();
  return Object.keys(errors).filter((k) => k !== "rig").length > 0 ? 1 : 0;
}

async function scenario(name: Name, bound: number, fn: () => Promise<void>): Promise<void> {
  const t = Date.now();
  say(`[${name}] running (bound ${Math.round(bound / 1000)} s) …`);
  try {
    await fn();
    say(`[${name}] done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    const msg = (e as Error).message;
    errors[name] = msg;
    say(`[${name}] FAILED after ${((Date.now() - t) / 1000).toFixed(1)} s: ${msg}`);
    row({ scenario: name, metric: "FAILED", value: msg.slice(0, 160) });
  }
}

type Rig = { ns: Netns; root: FixtureRoot; xs: Xenstore; launch: Launcher; clock: ClockSteps };

/** The agent's first full publish: the data/updated write that ends it, seen from dom0. */
async function startAgent(rig: Rig, scope: Scope, o: Parameters<Launcher["agent"]>[0]) {
  const { xs } = rig;
  await xs.rm("data/updated");
  await Bun.sleep(30); // the rm's own watch event goes by
  const seen = xs.next((e) => e.path === `${xs.base}/data/updated`, 15_000, "the agent's first publish (data/updated)");
  const agent = await scope.agent(o);
  const ev = await Promise.race([seen, agent.died]);
  return { agent, startMs: ms(ev.t - agent.t0), publishedAt: ev.t };
}

// --- size ----------------------------------------------------------------------------------

function size(agentBin: string, baselineBin: string): void {
  const a = fileSize(agentBin) ?? NaN;
  const b = fileSize(baselineBin) ?? NaN;
  const sizes: Record<string, number> = { "xen-guest-agent (host)": a, "idle baseline (host)": b };
  row({ scenario: "size", metric: "binary, host (linux-x64)", value: `${mib(a / 1024)} MiB`, baseline: `${mib(b / 1024)} MiB`, ratio: `+${round((a - b) / 1024, 0)} KiB` });
  if (argv["all-targets"]) {
    for (const t of ["linux-x64", "linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"]) {
      const s = fileSize(join(REPO, "dist", `xen-guest-agent-${t}`));
      if (s === undefined) continue;
      sizes[t] = s;
      row({ scenario: "size", metric: `binary, ${t}`, value: `${mib(s / 1024)} MiB` });
    }
  }
  results.size = sizes;
}

// --- start ---------------------------------------------------------------------------------

async function start(rig: Rig, scope: Scope): Promise<void> {
  const agentMs: number[] = [];
  const selfMs: number[] = [];
  const baseMs: number[] = [];
  for (let i = 0; i < CFG.startRuns; i++) {
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
  results.start = { agentMs: agentMs.map((v) => round(v, 2)), agentOwnMs: selfMs, baselineMs: baseMs.map((v) => round(v, 2)) };
  row({
    scenario: "start", metric: `exec → first full publish seen by dom0, median of ${a.n} (min–max)`,
    value: `${round(a.p50)} ms (${round(a.min)}–${round(a.max)})`, baseline: `${round(b.p50)} ms (exec → "ready")`,
    ratio: `${round(a.p50 / b.p50, 1)}×`, target: "< 150 ms", ok: a.p50 < 150,
  });
  if (selfMs.length) row({ scenario: "start", metric: "agent's own log: first publish after", value: `${median(selfMs)} ms (median)` });
}

// --- memory --------------------------------------------------------------------------------

/** The agent gives back its start-up pages this long after the first publish (src/cli/run.ts). */
const STARTUP_SETTLE_S = SETTLE_AFTER_FULL_PUBLISH_MS / 1000;
const MEMORY_INTERVAL_S = 5;

interface MemoryRun {
  /** 3 s after the first publish: what start-up mapped, before the agent gives pages back. */
  startup: Memory;
  /** After the settle, an address added and removed, and memory ticks with MemAvailable moving. */
  rest: Memory;
  baseline: Memory;
}

/**
 * One agent, next to a baseline started with it, both from a cold page cache. At rest means
 * after the work an idle guest sees: an address added and removed (netlink, schema, publisher,
 * xenstore) and memory timer ticks that write (--memory-interval 5, MemAvailable moved), all
 * after the agent's start-up settle; so the pages that work needs are counted.
 */
async function memoryRun(rig: Rig, scope: Scope, transport: "socket" | "device"): Promise<MemoryRun> {
  const { xs, ns, root } = rig;
  const b = scope.baseline({ gcTimer: false, cold: true });
  const { agent, publishedAt } = await startAgent(rig, scope, { gcTimer: false, transport, cold: true, memoryInterval: MEMORY_INTERVAL_S });
  const until = async (s: number) => {
    const left = s * 1000 - ms(monotonicNs() - publishedAt);
    if (left > 0) await Promise.race([Bun.sleep(left), agent.died, b.died]);
  };
  await until(3);
  const startup = agent.memory();
  await until(STARTUP_SETTLE_S + 1);
  const key = `${xs.base}/attr/vif/0/ipv4/`;
  for (const op of ["add", "del"]) {
    const seen = xs.next((e) => e.path.startsWith(key), 5000, `the watch event for addr ${op}`);
    ns.batch([`addr ${op} 10.98.0.1/32 dev eth0`]);
    await Promise.race([seen, agent.died]);
  }
  root.setMemAvailable(root.memAvailable() - 4096);
  await until(STARTUP_SETTLE_S + 1 + 2 * MEMORY_INTERVAL_S + 1); // two ticks, the first one writes
  const m = { startup, rest: agent.memory(), baseline: b.memory() };
  await agent.stop();
  await b.stop();
  return m;
}

const memoryRuns: { socket: MemoryRun[]; device: MemoryRun[] } = { socket: [], device: [] };

async function memory(rig: Rig, scope: Scope): Promise<void> {
  const device = ptyRelayUnavailable();
  for (let i = 0; i < CFG.memoryRuns; i++) {
    memoryRuns.socket.push(await memoryRun(rig, scope, "socket"));
    rig.root.resetMeminfo();
    if (!device) memoryRuns.device.push(await memoryRun(rig, scope, "device"));
    rig.root.resetMeminfo();
  }
  results.memory = memoryRuns;
  const n = CFG.memoryRuns;
  const rowsFor = (list: MemoryRun[], how: string) => {
    const med = (f: (r: MemoryRun) => number) => median(list.map(f));
    const bR = med((r) => r.baseline.rssKiB);
    const bA = med((r) => r.baseline.rssAnonKiB);
    const aR = med((r) => r.rest.rssKiB);
    const aA = med((r) => r.rest.rssAnonKiB);
    row({
      scenario: "memory", metric: `RSS at rest (start-up over, an address added and removed, memory ticks), ${how}, median of ${n}`,
      value: `${mib(aR)} MiB`, baseline: `${mib(bR)} MiB`, ratio: `${round(aR / bR, 2)}×`, target: "ratio ≤ 1.3", ok: aR / bR <= 1.3,
    });
    row({
      scenario: "memory", metric: "  anonymous RSS (RssAnon) at rest", value: `${mib(aA)} MiB`, baseline: `${mib(bA)} MiB`,
      ratio: `+${mib(aA - bA)} MiB`, target: "≤ 8 MB", ok: aA <= 8 * 1024,
    });
    row({
      scenario: "memory", metric: `  RSS 3 s after the first publish, before the agent gives back its start-up pages (anonymous)`,
      value: `${mib(med((r) => r.startup.rssKiB))} MiB (${mib(med((r) => r.startup.rssAnonKiB))} MiB)`, baseline: `${mib(bR)} MiB`,
      ratio: `${round(med((r) => r.startup.rssKiB) / bR, 2)}×`,
    });
  };
  rowsFor(memoryRuns.socket, "xenstore socket (XENSTORED_PATH = bridge)");
  if (device) row({ scenario: "memory", metric: "RSS at rest, xenbus device transport", value: `skipped: ${device}` });
  else rowsFor(memoryRuns.device, "xenbus device + watcher thread, as in a domU (pty relay)");
}

// --- reaction ------------------------------------------------------------------------------

async function reaction(rig: Rig, scope: Scope): Promise<void> {
  const { xs, ns } = rig;
  const { agent } = await startAgent(rig, scope, { gcTimer: false });
  await Promise.race([Bun.sleep(1000), agent.died]);
  const key = `${xs.base}/attr/vif/0/ipv4/`;
  const add: number[] = [];
  const del: number[] = [];
  for (let i = 0; i < CFG.reactionChanges; i++) {
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
  results.reaction = { method: "persistent `ip -force -batch -` in the namespace", ms: { all, add: summary(add), del: summary(del) } };
  row({
    scenario: "reaction", metric: `ip addr add/del → key's watch event on dom0, ${all.n} changes (ip -batch)`,
    value: `p50 ${round(all.p50, 2)} ms, p99 ${round(all.p99, 2)} ms, max ${round(all.max, 1)} ms`, target: "p99 < 20 ms", ok: all.p99 < 20,
  });
  row({ scenario: "reaction", metric: "  of which add / del (p50)", value: `${round(summary(add).p50, 2)} / ${round(summary(del).p50, 2)} ms` });
}

// --- burst ---------------------------------------------------------------------------------

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

async function burst(rig: Rig, scope: Scope): Promise<void> {
  const { agent } = await startAgent(rig, scope, { gcTimer: false });
  await Promise.race([Bun.sleep(1000), agent.died]);
  const per = CFG.burstPerVif;
  const set = (round: number, n: number) => Array.from({ length: per }, (_, i) => `10.${100 + round}.${n}.${i + 1}`);
  const expect = (round: number) => (n: number) => new Set([`10.0.${n}.2`, ...set(round, n)]);
  const adds = (round: number) => [...Array(VIFS).keys()].flatMap((n) => set(round, n).map((a) => `addr add ${a}/32 dev eth${n}`));
  const dels = (round: number) => [...Array(VIFS).keys()].flatMap((n) => set(round, n).map((a) => `addr del ${a}/32 dev eth${n}`));

  const fill = await measureBurst(rig, scope, agent, adds(0), expect(0));
  const rounds: BurstResult[] = [];
  for (let r = 1; r <= CFG.burstRounds; r++) {
    await Bun.sleep(500);
    rounds.push(await measureBurst(rig, scope, agent, [...dels(r - 1), ...adds(r)], expect(r)));
  }
  results.burst = { fill, rounds };
  const show = (label: string, list: BurstResult[]) => {
    const t = median(list.map((b) => b.ms));
    const ratio = median(list.map((b) => b.ops.steady / b.keysChanged));
    const x = list[Math.floor(list.length / 2)]!;
    const rep = list.reduce((n, b) => n + b.ops.republishes, 0);
    row({
      scenario: "burst", metric: `${label}: ${x.changes} changes → published tree = kernel${list.length > 1 ? `, median of ${list.length}` : ""}`,
      value: `${round(t, 0)} ms (first key after ${round(median(list.map((b) => b.firstEventMs)), 0)} ms)`, target: "< 2 s", ok: t < 2000,
    });
    row({
      scenario: "burst", metric: `${label}: xenstore requests / keys changed`,
      value: `${x.ops.steady} / ${x.keysChanged} = ${round(ratio, 2)} (${x.ops.writes} WRITE, ${x.ops.rms} RM, ${x.ops.updated} data/updated in ${x.publishes} publishes)` +
        (rep ? `; ${rep} full republish(es) after clock steps by other processes left out` : ""),
      target: "≤ 1.1", ok: ratio <= 1.1,
    });
  };
  show(`add ${fill.changes}`, [fill]);
  show(`replace ${per * VIFS} (del ${per * VIFS} + add ${per * VIFS})`, rounds);
}

// --- rest ----------------------------------------------------------------------------------

async function rest(rig: Rig, scope: Scope): Promise<void> {
  const { xs, root, clock } = rig;
  const interval = 1;
  const { agent } = await startAgent(rig, scope, { gcTimer: false, memoryInterval: interval });
  await Promise.race([Bun.sleep(2500), agent.died]);
  const W = CFG.restWindowS;
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
  results.rest = { memoryIntervalS: interval, windowS: W, flat, changing };
  row({
    scenario: "rest", metric: `memory flat: writes in ${W} s at --memory-interval ${interval} → per hour`,
    value: `${flat.steady} → ${round(perTick(flat) * 3600, 0)}/h${extra(flat)}`, target: "0", ok: flat.steady === 0,
  });
  row({
    scenario: "rest", metric: `memory changing: writes per interval (${changing.steady} in ${W} ticks) → per hour at the default 60 s`,
    value: `${round(perTick(changing), 2)} → ${round(perTick(changing) * 60, 0)}/h (${Object.entries(changing.byKey).map(([kk, v]) => `${kk} ${v}`).join(", ")})${extra(changing)}`,
    target: "1 per interval (60/h)", ok: perTick(changing) <= 1.05,
  });
}

// --- idle ----------------------------------------------------------------------------------

async function idle(rig: Rig, scope: Scope): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const gcTimer of [false, true]) {
    const label = gcTimer ? "GC timer on (Bun default)" : "BUN_GC_TIMER_DISABLE=1 (the systemd unit)";
    const b = scope.baseline({ gcTimer });
    const { agent, publishedAt } = await startAgent(rig, scope, { gcTimer, memoryInterval: 60 });
    await Promise.race([Bun.sleep(CFG.idleSettleS * 1000), agent.died, b.died]);
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
      const endAt = startedAt + CFG.idleWindowS * 1000;
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
      scenario: "idle", metric: `${CFG.idleWindowS} s at rest, ${label}: context switches (all threads) / CPU ticks; seconds in which the main thread / any thread woke`,
      value: `${da.switches} / ${da.ticks}; ${w.activeSeconds.agent.main} / ${w.activeSeconds.agent.any} s, ${w.activeSeconds.agent.untimed} not after a timer tick (${names(da)}; ${da.threads} threads)${perturbed ? ` PERTURBED: ${w.clockSteps} clock step(s) by other processes, ${w.ops.republishes} republish(es)` : ""}`,
      baseline: `${db.switches} / ${db.ticks}; ${w.activeSeconds.baseline.main} / ${w.activeSeconds.baseline.any} s (${names(db)}; ${db.threads} threads)`,
      ratio: `${da.switches - db.switches >= 0 ? "+" : ""}${da.switches - db.switches} switches`,
      // The event loop may wake only in the 15 s after a timer tick (the tick, a collection its
      // allocations start); JIT and GC helper threads follow that work (counted in "any").
      ...(gcTimer ? {} : { target: "only the timer's wake-ups (main thread: none but within 15 s of a tick)", ok: da.ticks <= 1 && w.activeSeconds.agent.untimed === 0 }),
    });
    if (w.ops.steady) row({ scenario: "idle", metric: `  xenstore writes during the window (${label})`, value: String(w.ops.steady) });
  }
  results.idle = out;
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

// --- churn ---------------------------------------------------------------------------------

async function churn(rig: Rig, scope: Scope): Promise<void> {
  const { xs, ns } = rig;
  const settle = QUICK ? 3 : 10;
  const sampleEveryMs = Math.max(2000, (CFG.churnMinutes * 60_000) / 60);
  const b = scope.baseline({ gcTimer: false, cold: true });
  const { agent } = await startAgent(rig, scope, { gcTimer: false, memoryInterval: 60, cold: true });
  await Promise.race([Bun.sleep(settle * 1000), agent.died, b.died]);
  const before = { agent: agent.memory(), baseline: b.memory() };
  const series: { s: number; agent: Memory; baseline: Memory }[] = [];
  const t0 = Date.now();
  const endAt = t0 + CFG.churnMinutes * 60_000;
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
      await Bun.sleep(CFG.churnSpacingMs);
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
  const third = (CFG.churnMinutes * 60) / 3;
  const first = during.filter((s) => s.s > third && s.s <= 2 * third).map((s) => s.agent.rssAnonKiB);
  const second = during.filter((s) => s.s > 2 * third).map((s) => s.agent.rssAnonKiB);
  const enough = first.length >= 2 && second.length >= 2;
  const peakRise = enough ? Math.max(...second) - Math.max(...first) : NaN;
  const floorRise = enough ? Math.min(...second) - Math.min(...first) : NaN;
  results.churn = { minutes: CFG.churnMinutes, changes, publishes, before, after, series, peakRiseAnonKiB: peakRise, floorRiseAnonKiB: floorRise };
  const g = (m: "agent" | "baseline", k: keyof Memory) => after[m][k] - before[m][k];
  const sign = (kib: number) => `${kib >= 0 ? "+" : ""}${mib(kib)} MiB`;
  row({
    scenario: "churn", metric: `${CFG.churnMinutes} min churn (${changes} changes, ${publishes} publishes): RSS before → after`,
    value: `${mib(before.agent.rssKiB)} → ${mib(after.agent.rssKiB)} MiB (${sign(g("agent", "rssKiB"))})`,
    baseline: `${sign(g("baseline", "rssKiB"))} over the same time`,
  });
  row({
    scenario: "churn", metric: "  anonymous RSS before → peak → after",
    value: `${mib(before.agent.rssAnonKiB)} → ${mib(peak)} → ${mib(after.agent.rssAnonKiB)} MiB`,
    baseline: `${sign(g("baseline", "rssAnonKiB"))}`,
  });
  row({
    scenario: "churn", metric: `  anonymous RSS, last third vs middle third of the churn (${during.length} readings): peak / floor`,
    value: enough ? `${sign(peakRise)} / ${sign(floorRise)}` : "too few readings (churn too short)",
    // Floors (after a collection) show retained memory; a peak depends on when the reading fell.
    target: "floor: no growth beyond noise (≤ 1 MiB)", ok: enough ? floorRise <= 1024 : undefined,
  });
}

// --- report --------------------------------------------------------------------------------

function table(markdown: boolean): string {
  const info = results.machine as ReturnType<typeof machine>;
  const head = ["scenario", "metric", "agent", "baseline", "vs baseline", "target", "met"];
  const body = rows.map((r) => [r.scenario, r.metric, r.value, r.baseline ?? "", r.ratio ?? "", r.target ?? "", r.ok === undefined ? "" : r.ok ? "yes" : "NO"]);
  const lines: string[] = [];
  const desc = `${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, kernel ${info.kernel}, Bun ${info.bun}, commit ${info.commit}, ` +
    `${info.date.slice(0, 16).replace("T", " ")} UTC, load ${info.loadavg.join(" ")} → ${(results.loadavgAfter as number[]).join(" ")}, ` +
    `${QUICK ? "--quick, " : ""}churn ${CFG.churnMinutes} min, ${results.seconds} s`;
  if (markdown) {
    lines.push(`Machine: ${desc}`, "");
    lines.push(`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`);
    for (const r of body) lines.push(`| ${r.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`);
  } else {
    lines.push(`machine: ${desc}`);
    const w = head.map((h, i) => Math.min(70, Math.max(h.length, ...body.map((r) => r[i]!.length))));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd();
    lines.push(fmt(head), w.map((n) => "-".repeat(n)).join("  "));
    for (const r of body) lines.push(fmt(r));
  }
  if (Object.keys(errors).length) lines.push("", ...Object.entries(errors).map(([k, v]) => `${k}: ${v}`));
  return lines.join("\n");
}

function report(): void {
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(JSON_OUT, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(MD_OUT, `${table(true)}\n`);
  process.stdout.write(`\n${table(false)}\n\nwritten: ${relative(process.cwd(), JSON_OUT)}, ${relative(process.cwd(), MD_OUT)}\n`);
}

// The whole run is bounded too: every scenario's bound plus set-up.
const TOTAL_BOUND_MS = 30 * 60_000 + CFG.churnMinutes * 60_000;
const watchdog = setTimeout(() => {
  say(`bench: the whole run exceeded ${TOTAL_BOUND_MS / 60_000} min; cleaning up`);
  cleanup.runAll();
  process.exit(124);
}, TOTAL_BOUND_MS);
watchdog.unref();

main().then(
  (code) => {
    cleanup.runAll();
    process.exit(code);
  },
  (e: unknown) => {
    say(`bench: ${(e as Error).stack ?? String(e)}`);
    cleanup.runAll();
    process.exit(1);
  },
);

