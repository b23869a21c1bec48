// What every scenario of scripts/bench/run.ts shares: the row it returns, the configuration,
// the rig it runs on, and the scope that stops whatever it started. A scenario is a module
// exporting one function `(ctx) => Promise<Outcome>`: the rows for the table and the raw figures
// for latest.json. It keeps no state between runs.
import { round } from "./lib.ts";
import type { ClockSteps, FixtureRoot, Launcher, Netns, Proc, Xenstore } from "./rig.ts";

export interface Row {
  scenario: string;
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
  /** true met, false missed, undefined no target */
  ok?: boolean;
}

export interface Outcome {
  rows: Row[];
  /** Raw figures, written to latest.json under the scenario's name. */
  result: unknown;
}

export interface Config {
  quick: boolean;
  allTargets: boolean;
  startRuns: number;
  memoryRuns: number;
  reactionChanges: number;
  burstRounds: number;
  burstPerVif: number;
  restWindowS: number;
  idleSettleS: number;
  idleWindowS: number;
  churnMinutes: number;
  churnSpacingMs: number;
  /** storms: how long after each storm the RSS is read again (issue 19: 60 s). */
  stormSettleS: number;
  stormSighups: number;
  stormChanges: number;
}

export type Rig = { ns: Netns; root: FixtureRoot; xs: Xenstore; launch: Launcher; clock: ClockSteps };

export interface Context {
  cfg: Config;
  rig: Rig;
  scope: Scope;
  say(line: string): void;
}

export const ms = (ns: bigint) => Number(ns) / 1e6;
export const mib = (kib: number) => round(kib / 1024, 1);

/**
 * What a scenario starts, stopped when it ends (or fails, or runs out of time). A scenario that
 * timed out may still be running in the background; `check()` and the closed launcher stop it at
 * its next step.
 */
export class Scope {
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

/** The agent's first full publish: the data/updated write that ends it, seen from dom0. */
export async function startAgent(rig: Rig, scope: Scope, o: Parameters<Launcher["agent"]>[0]) {
  const { xs } = rig;
  await xs.rm("data/updated");
  await Bun.sleep(30); // the rm's own watch event goes by
  const seen = xs.next((e) => e.path === `${xs.base}/data/updated`, 15_000, "the agent's first publish (data/updated)");
  const agent = await scope.agent(o);
  const ev = await Promise.race([seen, agent.died]);
  return { agent, startMs: ms(ev.t - agent.t0), publishedAt: ev.t };
}

/** Collects a scenario's rows. */
export function rowsOf(scenario: string) {
  const rows: Row[] = [];
  return { rows, row: (r: Omit<Row, "scenario">) => void rows.push({ scenario, ...r }) };
}
