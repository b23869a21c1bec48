// Benchmark of the rtnetlink collector, in a throw-away network namespace (needs root):
//   idle      CPU ticks and context switches (voluntary + involuntary, every thread) over a window
//             while nothing changes, with BUN_GC_TIMER_DISABLE=1 so that Bun's GC timer does not
//             hide the collector's own wake-ups; the target is 0 batches and ~0 switches;
//   reaction  CLOCK_MONOTONIC from just before an `addr add`/`addr del` line is written to a
//             running `ip -batch -` to the collector's batch callback (both stamped through FFI
//             clock_gettime), changes spaced beyond the coalescing window; and, for reference,
//             from spawning a fresh `ip addr add` (dominated by `ip` start-up);
//   rss       VmRSS / RssAnon / RssFile of the compiled binary running the collector.
// Usage: bun scripts/bench/netlink.ts [--json] [--idle-seconds 60] [--changes 200] [--dev]
//   --dev runs the child with `bun` instead of a compiled binary.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { monotonicNs } from "../../native/monotonic.ts";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    dev: { type: "boolean", default: false },
    "idle-seconds": { type: "string", default: "60" },
    changes: { type: "string", default: "200" },
    "settle-seconds": { type: "string", default: "10" },
  },
});
const IDLE_S = Number(args["idle-seconds"]);
const CHANGES = Number(args.changes);
const SETTLE_S = Number(args["settle-seconds"]);
const SPACING_MS = 25; // > the default 10 ms coalescing window, so every change is its own batch
const say = (s: string) => args.json || process.stderr.write(`${s}\n`);

function sh(argv: string[]): void {
  const p = Bun.spawnSync(argv, { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString().trim()}`);
}

/** Per thread (by tid): name, utime+stime ticks, voluntary + involuntary context switches. */
function threads(pid: number): Map<string, { name: string; ticks: number; switches: number; voluntary: number }> {
  const out = new Map<string, { name: string; ticks: number; switches: number; voluntary: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
      out.set(tid, {
        name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? tid,
        ticks: Number(f[11]) + Number(f[12]), // utime (14), stime (15)
        switches: n("voluntary_ctxt_switches") + n("nonvoluntary_ctxt_switches"),
        voluntary: n("voluntary_ctxt_switches"), // the thread went to sleep; the rest is preemption
      });
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/**
 * What happened between two samples, over the threads alive at the end (a thread that ended inside
 * the window takes its counts with it; `ended` says how many did).
 */
function idleDelta(a: ReturnType<typeof threads>, b: ReturnType<typeof threads>) {
  let ticks = 0;
  let switches = 0;
  let voluntary = 0;
  const byThread: Record<string, number> = {};
  for (const [tid, t] of b) {
    const before = a.get(tid) ?? { ticks: 0, switches: 0, voluntary: 0 };
    voluntary += t.voluntary - before.voluntary;
    ticks += t.ticks - before.ticks;
    switches += t.switches - before.switches;
    byThread[t.name] = (byThread[t.name] ?? 0) + t.switches - before.switches;
  }
  const ended = [...a.keys()].filter((tid) => !b.has(tid)).length;
  return { ticks, switches, voluntary, byThread, threads: b.size, ended };
}

function memory(pid: number) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0);
  return { vmRssKiB: kb("VmRSS"), rssAnonKiB: kb("RssAnon"), rssFileKiB: kb("RssFile") };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(us: number[]) {
  const s = [...us].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1]!, slowest: s.slice(-5).map(Math.round) };
}

/** Reads the child's stdout line by line. */
class Lines {
  private buf = "";
  private waiters: ((l: string) => void)[] = [];
  private queued: string[] = [];
  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        this.buf += dec.decode(chunk, { stream: true });
        for (let i; (i = this.buf.indexOf("\n")) >= 0; ) {
          const line = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          const w = this.waiters.shift();
          if (w) w(line);
          else this.queued.push(line);
        }
      }
    })();
  }
  next(timeoutMs = 5000): Promise<string> {
    const q = this.queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no output from the collector in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((l) => (clearTimeout(t), resolve(l)));
    });
  }
  drain(): string[] {
    return this.queued.splice(0);
  }
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces)");
  const ns = `xga-bench-${process.pid}`;
  const work = mkdtempSync(join(tmpdir(), "xga-bench-"));
  const bun = process.execPath;
  let child: ReturnType<typeof Bun.spawn> | undefined;
  let batch: Bun.Subprocess<"pipe", "ignore", "ignore"> | undefined;
  try {
    sh(["ip", "netns", "add", ns]);
    sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"]);
    sh(["ip", "-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    sh(["ip", "-n", ns, "link", "set", "va", "up"]);
    sh(["ip", "-n", ns, "link", "set", "vb", "up"]);

    let cmd = [bun, join(import.meta.dir, "netlink-child.ts")];
  let baseline: ReturnType<typeof memory> | null = null;
    if (!args.dev) {
      const out = join(work, "xga-netlink-child");
      say("compiling the collector …");
      sh([bun, "build", "--compile", "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv", join(import.meta.dir, "netlink-child.ts"), "--outfile", out]);
      cmd = [out];
      baseline = await emptyProgramRss(bun, work);
    }
    // `ip netns exec` execs the command in place, so the pid we get is the collector's.
    child = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], {
      stdout: "pipe", stderr: "inherit", env: { ...process.env, BUN_GC_TIMER_DISABLE: "1" },
    });
    const lines = new Lines(child.stdout as ReadableStream<Uint8Array>);
    const t0 = monotonicNs();
    const ready = await lines.next(15_000);
    const readyMs = Number(monotonicNs() - t0) / 1e6;
    if (!ready.startsWith("READY ")) throw new Error(`unexpected child output: ${ready}`);
    const pid = child.pid;

    // Idle: let start-up settle (link-local addresses, link-watch, JSC's post-start-up GC), then
    // measure a quiet window.
    await Bun.sleep(SETTLE_S * 1000);
    lines.drain();
    const rss = memory(pid);
    say(`idle window of ${IDLE_S} s …`);
    const a = threads(pid);
    await Bun.sleep(IDLE_S * 1000);
    const b = threads(pid);
    const idleBatches = lines.drain().filter((l) => l.startsWith("BATCH")).length;
    const d = idleDelta(a, b);

    // Reaction through a long-lived `ip -batch -`: no `ip` start-up in the measurement.
    say(`${CHANGES} changes …`);
    batch = Bun.spawn(["ip", "-n", ns, "-force", "-batch", "-"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
    const warm: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const op = i % 2 === 0 ? "add" : "del";
      const text = `addr ${op} 10.77.${(i >> 1) >> 8}.${(i >> 1) & 255}/32 dev va\n`; // allocate before the stamp
      const start = monotonicNs();
      batch.stdin.write(text);
      batch.stdin.flush();
      const line = await lines.next();
      warm.push(Number(BigInt(line.split(" ")[1]!) - start) / 1000);
      await Bun.sleep(SPACING_MS);
    }
    batch.stdin.end();

    const cold: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = monotonicNs();
      Bun.spawn(["ip", "-n", ns, "addr", i % 2 ? "del" : "add", "10.78.0.1/32", "dev", "va"], { stdout: "ignore", stderr: "ignore" });
      const line = await lines.next();
      cold.push(Number(BigInt(line.split(" ")[1]!) - start) / 1000);
      await Bun.sleep(SPACING_MS);
    }

    const result = {
      loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
      binary: args.dev ? "dev (bun netlink-child.ts)" : "compiled (bun build --compile)",
      readyMs: Math.round(readyMs * 10) / 10,
      idle: { seconds: IDLE_S, batches: idleBatches, cpuTicks: d.ticks, contextSwitches: d.switches, voluntary: d.voluntary, threads: d.threads, threadsEnded: d.ended, byThread: d.byThread },
      reactionUs: { ipBatch: summary(warm), ipSpawn: summary(cold) },
      rss,
      rssEmptyProgram: baseline,
    };
    if (args.json) console.log(JSON.stringify(result, null, 2));
    else printTable(result);
  } finally {
    child?.kill("SIGTERM");
    batch?.kill();
    await child?.exited;
    Bun.spawnSync(["ip", "netns", "del", ns]);
    rmSync(work, { recursive: true, force: true });
  }
}

const mib = (m: { vmRssKiB: number; rssAnonKiB: number; rssFileKiB: number }) =>
  `${(m.vmRssKiB / 1024).toFixed(1)} MiB (${(m.rssAnonKiB / 1024).toFixed(1)} / ${(m.rssFileKiB / 1024).toFixed(1)})`;

/** RSS of a compiled program that only waits: the runtime's own share of the figure. */
async function emptyProgramRss(bun: string, work: string) {
  const src = join(work, "empty.ts");
  await Bun.write(src, 'setTimeout(() => {}, 1e9);\nprocess.stdout.write("READY\\n");\n');
  sh([bun, "build", "--compile", "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv", src, "--outfile", join(work, "empty")]);
  const p = Bun.spawn([join(work, "empty")], { stdout: "pipe" });
  await new Lines(p.stdout).next(15_000);
  await Bun.sleep(3000);
  const m = memory(p.pid);
  p.kill();
  await p.exited;
  return m;
}

function printTable(r: {
  loadAverage: string; binary: string; readyMs: number;
  idle: { seconds: number; batches: number; cpuTicks: number; contextSwitches: number; voluntary: number; threads: number; threadsEnded: number; byThread: Record<string, number> };
  reactionUs: Record<string, { n: number; p50: number; p90: number; p99: number; max: number }>;
  rss: { vmRssKiB: number; rssAnonKiB: number; rssFileKiB: number };
  rssEmptyProgram: { vmRssKiB: number; rssAnonKiB: number; rssFileKiB: number } | null;
}) {
  const us = (v: number) => `${Math.round(v)} µs`;
  const rows: [string, string][] = [
    ["collector", r.binary],
    ["machine load average (1/5/15 min) at the end", r.loadAverage],
    ["start-up to first snapshot (incl. exec)", `${r.readyMs} ms`],
    [`idle ${r.idle.seconds} s: batches`, `${r.idle.batches}`],
    [`idle ${r.idle.seconds} s: CPU (10 ms ticks)`, `${r.idle.cpuTicks}`],
    [`idle ${r.idle.seconds} s: context switches, ${r.idle.threads} threads (+${r.idle.threadsEnded} ended)`, `${r.idle.contextSwitches}, ${r.idle.voluntary} voluntary (${Object.entries(r.idle.byThread).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(", ") || "none"})`],
    ...Object.entries(r.reactionUs).map(([k, s]): [string, string] => [`reaction via ${k} (n=${s.n})`, `p50 ${us(s.p50)}, p90 ${us(s.p90)}, p99 ${us(s.p99)}, max ${us(s.max)}`]),
    ["RSS (anon / file)", mib(r.rss)],
    ...(r.rssEmptyProgram ? [["RSS of an empty compiled program, for reference", mib(r.rssEmptyProgram)] as [string, string]] : []),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

await main();
