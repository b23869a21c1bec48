#!/usr/bin/env bun
// Xenstore round trips against the real C xenstored, as a guest (through xsshim-guest's ring
// bridge, so every request crosses the daemon's ring code like a domU's): sequential (one request
// at a time) vs pipelined (a window of requests in flight), READ and WRITE, over the socket
// transport (native/socket-reader.ts) and the device transport (the xenbus watcher thread reading the same socket).
//
//   bun scripts/bench/xenstore.ts [--n 3000] [--depth 32] [--daemon c|ocaml] [--idle-seconds 5] [--json [FILE]]
//
// Prints a table and the idle wake-ups per thread of a connected client with a watch (run with
// BUN_GC_TIMER_DISABLE=1 to take Bun's GC timer out); --json writes it all as JSON to FILE (or stdout).
import { readdirSync, readFileSync } from "node:fs";
import { connectUnixSocket } from "../../native/unix-socket.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { DeviceTransport } from "../../src/xenstore/device-transport.ts";
import { SocketTransport } from "../../src/xenstore/socket-transport.ts";
import {
  connectGuestWhenReady,
  realXenstoredUnavailable,
  startRealXenstored,
  type DaemonKind,
} from "../../test/support/xenstored.ts";

interface Result {
  transport: string;
  op: "READ" | "WRITE";
  mode: "sequential" | "pipelined";
  depth: number;
  requests: number;
  requestsPerSecond: number;
  p50Us: number;
  p99Us: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v !== undefined && !v.startsWith("--") ? v : fallback;
}

const n = Number(arg("n", "3000"));
const depth = Number(arg("depth", "32"));
const daemon = arg("daemon", "c") as DaemonKind;
const jsonAt = process.argv.indexOf("--json");
const jsonFile = jsonAt >= 0 && process.argv[jsonAt + 1] && !process.argv[jsonAt + 1]!.startsWith("--") ? process.argv[jsonAt + 1] : undefined;

const reason = realXenstoredUnavailable(daemon);
if (reason) {
  console.error(`xenstore bench skipped: ${reason}`);
  process.exit(1);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `count` requests with at most `window` in flight; returns per-request latencies (ms). */
async function run(op: () => Promise<unknown>, count: number, window: number): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let issued = 0;
  const start = performance.now();
  const lane = async (): Promise<void> => {
    while (issued < count) {
      issued++;
      const t0 = performance.now();
      await op();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return { latencies, seconds: (performance.now() - start) / 1000 };
}

async function bench(client: XenstoreClient, label: string): Promise<Result[]> {
  await client.write("data/bench", "x".repeat(64));
  const ops = {
    READ: () => client.read("data/bench"),
    WRITE: () => client.write("data/bench", "y".repeat(64)),
  };
  const out: Result[] = [];
  for (const op of ["READ", "WRITE"] as const) {
    for (const [mode, window] of [["sequential", 1], ["pipelined", depth]] as const) {
      await run(ops[op], 200, window); // warm-up: JIT, daemon caches
      const { latencies, seconds } = await run(ops[op], n, window);
      latencies.sort((a, b) => a - b);
      out.push({
        transport: label,
        op,
        mode,
        depth: window,
        requests: n,
        requestsPerSecond: Math.round(n / seconds),
        p50Us: Math.round(percentile(latencies, 50) * 1000),
        p99Us: Math.round(percentile(latencies, 99) * 1000),
      });
    }
  }
  return out;
}

/** Voluntary context switches per thread name (/proc/self/task/<tid>/{comm,status}). */
function contextSwitches(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
      const status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
      // Voluntary switches = the thread went to sleep, i.e. one per wake-up; preemptions by
      // other processes (nonvoluntary) say nothing about us.
      const n = Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? 0);
      out.set(comm, (out.get(comm) ?? 0) + n);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/**
 * Idle cost: a connected client with a watch registered, nothing happening, for `seconds`;
 * wake-ups per thread over the window. Runs in a child process (`--idle-child`): this
 * process has spawned the daemons, and Bun watching its children wakes it about twice a second,
 * which is not the client's doing. The child runs with BUN_GC_TIMER_DISABLE=1, as the systemd
 * unit does.
 */
async function idleChild(transport: string, path: string, seconds: number): Promise<void> {
  const make = (p: string): XenstoreClient =>
    transport === "device"
      ? new XenstoreClient(new DeviceTransport("worker-on-bridge", connectUnixSocket(p)))
      : new XenstoreClient(new SocketTransport(p));
  const client = await connectGuestWhenReady(path, make);
  await client.watch("control/shutdown", () => {});
  await Bun.sleep(2000); // settle: JIT and GC threads finish their start-up work
  const before = contextSwitches();
  await Bun.sleep(seconds * 1000);
  const after = contextSwitches();
  const delta: Record<string, number> = {};
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0) delta[name] = d;
  }
  client.close();
  console.log(JSON.stringify(delta));
}

async function idle(transport: "socket" | "device", path: string, seconds: number): Promise<Record<string, number>> {
  const p = Bun.spawn([process.execPath, import.meta.path, "--idle-child", transport, path, "--idle-seconds", String(seconds)], {
    env: { ...process.env, BUN_GC_TIMER_DISABLE: "1" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error("idle measurement failed");
  return JSON.parse(out) as Record<string, number>;
}

const idleSeconds = Number(arg("idle-seconds", "5"));
const childAt = process.argv.indexOf("--idle-child");
if (childAt >= 0) {
  await idleChild(process.argv[childAt + 1]!, process.argv[childAt + 2]!, idleSeconds);
  process.exit(0);
}
const xs = await startRealXenstored(daemon);
const results: Result[] = [];
const idleWakeups: Record<string, Record<string, number>> = {};
try {
  // The bridge serves one client at a time: one transport after the other, each closed first.
  const socket = await connectGuestWhenReady(xs.guestSocketPath, (p) => new XenstoreClient(new SocketTransport(p)));
  results.push(...(await bench(socket, "socket (epoll)")));
  socket.close();
  if (idleSeconds > 0) idleWakeups["socket (epoll)"] = await idle("socket", xs.guestSocketPath, idleSeconds);
  const device = await connectGuestWhenReady(
    xs.guestSocketPath,
    (p) => new XenstoreClient(new DeviceTransport("worker-on-bridge", connectUnixSocket(p))),
  );
  results.push(...(await bench(device, "device (watcher thread read)")));
  device.close();
  if (idleSeconds > 0) idleWakeups["device (watcher thread read)"] = await idle("device", xs.guestSocketPath, idleSeconds);
} finally {
  await xs.stop();
}

const header = ["transport", "op", "mode", "depth", "req/s", "p50 µs", "p99 µs"];
const rows = results.map((r) => [r.transport, r.op, r.mode, String(r.depth), String(r.requestsPerSecond), String(r.p50Us), String(r.p99Us)]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
// With JSON on stdout, the table goes to stderr so stdout stays parseable.
const print = jsonAt >= 0 && !jsonFile ? console.error : console.log;
print(`xenstore round trips: ${daemon === "c" ? "C xenstored" : "oxenstored"} 4.17 via the guest ring bridge, ${n} requests per row`);
print(line(header));
for (const r of rows) print(line(r));

for (const [label, wakeups] of Object.entries(idleWakeups)) {
  print(`idle ${idleSeconds} s, ${label}, wake-ups (voluntary context switches) by thread: ${JSON.stringify(wakeups)}`);
}

if (jsonAt >= 0) {
  const doc = JSON.stringify({ daemon, bun: Bun.version, date: new Date().toISOString(), results, idleSeconds, idleWakeups }, null, 2);
  if (jsonFile) await Bun.write(jsonFile, `${doc}\n`);
  else console.log(doc);
}
