// Helpers shared by the benchmarks in scripts/bench/: /proc readings (every thread summed, the
// way bun-runtime.md §0 does it), percentiles, a line reader for child output, the machine's
// description, bounded waits, and a registry that kills children and removes namespaces and temp
// dirs however the run ends (normal exit, exception, SIGINT/SIGTERM).
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { monotonicNs } from "../../native/monotonic.ts";

export const REPO = join(import.meta.dir, "../..");

// --- /proc ---------------------------------------------------------------------------------

export interface ThreadTotals {
  /** utime+stime of every thread, in CLK_TCK ticks (10 ms here). */
  ticks: number;
  /** voluntary + nonvoluntary context switches of every thread. */
  switches: number;
  /** Context switches by thread name (threads of one name summed). */
  byName: Record<string, number>;
  threads: number;
  /** Per thread id: name, switches, ticks (so a delta survives threads coming and going). */
  byTid: Record<string, { name: string; switches: number; ticks: number }>;
}

/** CPU ticks and context switches summed over /proc/<pid>/task/* (not only the main thread). */
export function threadTotals(pid: number): ThreadTotals {
  const out: ThreadTotals = { ticks: 0, switches: 0, byName: {}, threads: 0, byTid: {} };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
      const ticks = Number(f[11]) + Number(f[12]); // utime (14), stime (15)
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
      const switches = n("voluntary_ctxt_switches") + n("nonvoluntary_ctxt_switches");
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? tid;
      out.byTid[tid] = { name, switches, ticks };
      out.ticks += ticks;
      out.switches += switches;
      out.byName[name] = (out.byName[name] ?? 0) + switches;
      out.threads++;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/**
 * What happened between two readings, per thread: a thread that started in between counts from
 * zero; one that ended is left out (its last switches are lost), and counted in `ended`.
 */
export function threadDelta(before: ThreadTotals, after: ThreadTotals) {
  const byName: Record<string, number> = {};
  let ticks = 0;
  let switches = 0;
  for (const [tid, t] of Object.entries(after.byTid)) {
    const b = before.byTid[tid];
    const ds = t.switches - (b?.switches ?? 0);
    ticks += t.ticks - (b?.ticks ?? 0);
    switches += ds;
    if (ds !== 0) byName[t.name] = (byName[t.name] ?? 0) + ds;
  }
  const ended = Object.keys(before.byTid).filter((tid) => !(tid in after.byTid)).length;
  const started = Object.keys(after.byTid).filter((tid) => !(tid in before.byTid)).length;
  return { ticks, switches, byName, threads: after.threads, started, ended };
}

export interface Memory {
  rssKiB: number;
  rssAnonKiB: number;
  rssFileKiB: number;
}

/** VmRSS / RssAnon / RssFile from /proc/<pid>/status. */
export function memoryOf(pid: number): Memory {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
  return { rssKiB: kb("VmRSS"), rssAnonKiB: kb("RssAnon"), rssFileKiB: kb("RssFile") };
}

// --- statistics ----------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summary(values: readonly number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

export const round = (v: number, digits = 1): number => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

// --- machine -------------------------------------------------------------------------------

export function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: REPO, stderr: "ignore" }).stdout.toString().trim();
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: REPO, stderr: "ignore" }).stdout.toString().trim() !== "";
  const clkTck = Number(Bun.spawnSync(["getconf", "CLK_TCK"], { stderr: "ignore" }).stdout.toString().trim()) || 100;
  return {
    cpu: model,
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    clkTck,
    loadavg: loadavg().map((v) => round(v, 2)),
    commit: git ? `${git}${dirty ? "+dirty" : ""}` : "unknown",
    date: new Date().toISOString(),
  };
}

// --- child output --------------------------------------------------------------------------

/** A child's output, line by line, kept (bounded) for error messages. */
export class Lines {
  private buf = "";
  private waiters: { pred: (l: string) => boolean; resolve(l: { line: string; t: bigint }): void }[] = [];
  readonly tail: string[] = [];
  private readonly times: bigint[] = [];
  private listeners: ((l: string) => void)[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of stream) {
          this.buf += dec.decode(chunk, { stream: true });
          for (let i; (i = this.buf.indexOf("\n")) >= 0; ) {
            this.push(this.buf.slice(0, i));
            this.buf = this.buf.slice(i + 1);
          }
        }
      } catch {
        // the child went away
      }
    })();
  }

  private push(line: string): void {
    const t = monotonicNs();
    this.tail.push(line);
    this.times.push(t);
    if (this.tail.length > 200) {
      this.tail.shift();
      this.times.shift();
    }
    for (const l of this.listeners) l(line);
    this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve({ line, t }), false) : true));
  }

  onLine(cb: (l: string) => void): void {
    this.listeners.push(cb);
  }

  /**
   * The first line (from now on, or already seen when `seen` is true) matching `pred`, with the
   * CLOCK_MONOTONIC time (ns) at which it was read.
   */
  waitFor(pred: (l: string) => boolean, ms: number, what: string, seen = false): Promise<{ line: string; t: bigint }> {
    if (seen) {
      const i = this.tail.findIndex(pred);
      if (i >= 0) return Promise.resolve({ line: this.tail[i]!, t: this.times[i]! });
    }
    return withTimeout(new Promise<{ line: string; t: bigint }>((resolve) => this.waiters.push({ pred, resolve })), ms, what);
  }
}

// --- time bounds ---------------------------------------------------------------------------

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/**
 * `p`, or a TimeoutError after `ms`. The result is marked handled: a wait that nobody awaits any
 * more (the scenario already failed) never becomes an unhandled rejection.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms: ${what}`)), ms);
  });
  const r = Promise.race([p, t]).finally(() => clearTimeout(timer));
  r.catch(() => {});
  return r;
}

// --- cleanup -------------------------------------------------------------------------------

/**
 * Everything that must not outlive the run: child processes (killed), network namespaces
 * (deleted), directories (removed), other callbacks. `runAll()` is idempotent and synchronous, so
 * it also works from an `exit` handler.
 */
export class Cleanup {
  private readonly procs = new Set<Bun.Subprocess>();
  private readonly steps: (() => void)[] = [];
  private done = false;

  constructor() {
    process.once("exit", () => this.runAll());
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(sig, () => {
        process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
        this.runAll();
        process.exit(130);
      });
    }
  }

  /** Tracks a child: killed (SIGKILL) at cleanup unless it already exited. */
  proc<T extends Bun.Subprocess>(p: T): T {
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  netns(name: string): void {
    this.steps.push(() => void Bun.spawnSync(["ip", "netns", "del", name], { stderr: "ignore" }));
  }

  dir(path: string): void {
    this.steps.push(() => rmSync(path, { recursive: true, force: true }));
  }

  add(step: () => void): void {
    this.steps.push(step);
  }

  runAll(): void {
    if (this.done) return;
    this.done = true;
    for (const p of this.procs) {
      try {
        p.kill("SIGKILL");
      } catch {
        // gone
      }
    }
    for (const step of this.steps.reverse()) {
      try {
        step();
      } catch {
        // best effort
      }
    }
  }
}

/** The command prefix that makes a child die with us even if we are SIGKILLed. */
export function deathPrefix(): string[] {
  return Bun.which("setpriv") ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
export async function stopProcess(p: Bun.Subprocess, graceMs = 3000): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
  return p.exitCode;
}

export function run(argv: string[], opts: { stdin?: string } = {}): string {
  const p = Bun.spawnSync(argv, { stdin: opts.stdin === undefined ? "ignore" : Buffer.from(opts.stdin), stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${p.exitCode}): ${p.stderr.toString().trim().slice(0, 500)}`);
  return p.stdout.toString();
}

export function fileSize(path: string): number | undefined {
  return existsSync(path) ? Bun.file(path).size : undefined;
}
