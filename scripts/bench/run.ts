#!/usr/bin/env bun
// `npm run bench`: what the agent costs inside a VM and how fast dom0 sees changes, next to a
// baseline measured in the same run. Builds dist/xen-guest-agent (scripts/build.ts) and an idle
// Bun program compiled the same way (scripts/bench/idle-baseline.ts), starts the real C
// xenstored with a guest ring bridge, a network namespace with four VIF-like links and a fixture
// root (scripts/bench/rig.ts), then runs the scenarios (scripts/bench/scenarios/*.ts), each under
// a wall-clock bound and cleaned up even when it fails. Each scenario returns its rows; targets
// are data (scripts/bench/targets.ts). Prints a table; writes .work/bench/latest.json and latest.md.
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
//   fsfreeze  freeze / thaw latency from dom0 (p50/p99 of 20 cycles), longest time frozen (fsfreeze.ts)
//   storms    peak RSS during a 20 000-change netlink storm, a quota-crossing burst and 100 SIGHUPs,
//             and RSS 60 s after each, vs the idle Bun program
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { monotonicNs } from "../../native/monotonic.ts";
import { RUNTIME_FLAGS } from "../build.ts";
import { fleet, type FleetConfig } from "./fleet.ts";
import { benchFsfreeze } from "./fsfreeze.ts";
import { Cleanup, machine, REPO, run, withTimeout } from "./lib.ts";
import { ClockSteps, FixtureRoot, launcher, Netns, rigUnavailable, Xenstore } from "./rig.ts";
import { Scope, type Config, type Context, type Outcome, type Row } from "./scenario.ts";
import burst from "./scenarios/burst.ts";
import churn from "./scenarios/churn.ts";
import idle from "./scenarios/idle.ts";
import memory from "./scenarios/memory.ts";
import reaction from "./scenarios/reaction.ts";
import rest from "./scenarios/rest.ts";
import size from "./scenarios/size.ts";
import start from "./scenarios/start.ts";
import storms from "./scenarios/storms.ts";

// --- options -------------------------------------------------------------------------------

const { values: argv } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "churn-minutes": { type: "string" },
    only: { type: "string" },
    "all-targets": { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    json: { type: "string" },
    fleet: { type: "boolean", default: false },
    "fleet-n": { type: "string" },
    "fleet-rest-minutes": { type: "string" },
    "fleet-daemons": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (argv.help) {
  process.stdout.write(
    "usage: bun scripts/bench/run.ts [--quick] [--churn-minutes N] [--only size,start,memory,reaction,burst,rest,idle,churn,storms,fsfreeze]\n" +
      "                                [--all-targets] [--no-build] [--json FILE]\n" +
      "                                [--fleet [--fleet-n 100] [--fleet-rest-minutes 5] [--fleet-daemons c,ocaml]]\n",
  );
  process.exit(0);
}
const QUICK = argv.quick;
const CFG: Config = {
  quick: QUICK,
  allTargets: argv["all-targets"],
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
  stormSettleS: QUICK ? 20 : 60,
  stormSighups: 100,
  stormChanges: 20_000,
};
if (!(CFG.churnMinutes >= 0)) throw new Error("--churn-minutes wants a number of minutes");
/** The fleet (issue 18) is opt-in: N agents and their daemons load the machine for minutes. */
const FLEET: FleetConfig | undefined = argv.fleet
  ? {
      n: Number(argv["fleet-n"] ?? 100),
      restMinutes: Number(argv["fleet-rest-minutes"] ?? 5),
      daemons: (argv["fleet-daemons"] ?? "c,ocaml").split(",").map((s) => s.trim()) as FleetConfig["daemons"],
    }
  : undefined;

/** The rig scenarios in running order (cheap first: a failing rig shows in seconds), each with its bound (ms). */
const PLAN: { name: string; bound: number; fn: (ctx: Context) => Promise<Outcome> }[] = [
  { name: "start", bound: 120_000, fn: start },
  { name: "memory", bound: 300_000, fn: memory },
  { name: "reaction", bound: 180_000, fn: reaction },
  { name: "burst", bound: 180_000, fn: burst },
  { name: "rest", bound: 240_000, fn: rest },
  { name: "idle", bound: 2 * (CFG.idleSettleS + CFG.idleWindowS) * 1000 + 120_000, fn: idle },
  { name: "churn", bound: CFG.churnMinutes * 60_000 + 180_000, fn: churn },
  { name: "storms", bound: 3 * CFG.stormSettleS * 1000 + 300_000, fn: storms },
];
const ALL = ["size", ...PLAN.map((p) => p.name), "fsfreeze"];
const ONLY = new Set((argv.only ?? ALL.join(",")).split(",").map((s) => s.trim()));
for (const n of ONLY) if (!ALL.includes(n)) throw new Error(`unknown scenario '${n}' (known: ${ALL.join(", ")})`);
const OUT_DIR = join(REPO, ".work/bench");
const JSON_OUT = argv.json ?? join(OUT_DIR, "latest.json");
const MD_OUT = JSON_OUT.replace(/\.json$/, "") + ".md";

function fleetBoundMs(): number {
  return FLEET ? FLEET.daemons.length * (2 * FLEET.restMinutes * 60 + 240 + FLEET.n * 2) * 1000 : 0;
}

const say = (s: string) => process.stderr.write(`${s}\n`);

// --- the run -------------------------------------------------------------------------------

const rows: Row[] = [];
const results: Record<string, unknown> = {};
const errors: Record<string, string> = {};
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
    run([process.execPath, join(REPO, "scripts/build.ts"), ...(CFG.allTargets && ONLY.has("size") ? ["--all"] : [])]);
    if (CFG.allTargets && ONLY.has("size")) run([process.execPath, join(REPO, "scripts/build.ts")]);
  }
  // Compiled the same way as the agent.
  run([process.execPath, "build", "--compile", join(REPO, "scripts/bench/idle-baseline.ts"), "--outfile", baselineBin, ...RUNTIME_FLAGS]);

  if (ONLY.has("size")) await scenario("size", 10_000, async () => size(CFG, agentBin, baselineBin));
  // Its own loop-mounted filesystem and agent: no rig needed (issue 16).
  if (ONLY.has("fsfreeze")) {
    await scenario("fsfreeze", 180_000, async () => {
      const figures = await benchFsfreeze([agentBin]);
      return { rows: figures.map((r) => ({ scenario: "fsfreeze", ...r })), result: figures };
    });
  }

  if (PLAN.some((p) => ONLY.has(p.name))) {
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
        for (const { name, bound, fn } of PLAN) {
          if (!ONLY.has(name)) continue;
          await scenario(name, bound, async () => {
            const scope = new Scope(launch);
            try {
              return await withTimeout(fn({ cfg: CFG, rig, scope, say }), bound, `scenario ${name}`);
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

  if (FLEET) {
    const why = rigUnavailable();
    if (why) errors.fleet = `skipped: ${why}`;
    else await scenario("fleet", fleetBoundMs(), () => fleet(agentBin, FLEET, cleanup));
  }

  results.loadavgAfter = machine().loadavg;
  results.seconds = Math.round((Date.now() - startedAt) / 1000);
  results.rows = rows;
  results.errors = errors;
  report();
  return Object.keys(errors).filter((k) => k !== "rig").length > 0 ? 1 : 0;
}

async function scenario(name: string, bound: number, fn: () => Promise<Outcome>): Promise<void> {
  const t = Date.now();
  say(`[${name}] running (bound ${Math.round(bound / 1000)} s) …`);
  try {
    const out = await fn();
    rows.push(...out.rows);
    results[name] = out.result;
    say(`[${name}] done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    const msg = (e as Error).message;
    errors[name] = msg;
    say(`[${name}] FAILED after ${((Date.now() - t) / 1000).toFixed(1)} s: ${msg}`);
    rows.push({ scenario: name, metric: "FAILED", value: msg.slice(0, 160) });
  }
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
const TOTAL_BOUND_MS = 30 * 60_000 + CFG.churnMinutes * 60_000 + fleetBoundMs();
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

