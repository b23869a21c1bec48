#!/usr/bin/env bun
// Xenstore round trips against the real C xenstored, as a guest (through xsshim-guest's ring
// bridge, so every request crosses the daemon's ring code like a domU's): sequential (one request
// at a time) vs pipelined (a window of requests in flight), READ and WRITE, over the socket
// transport (Bun's epoll) and the device transport (the xenbus Worker reading the same socket).
//
//   bun scripts/bench/xenstore.ts [--n 3000] [--depth 32] [--daemon c|ocaml] [--json [FILE]]
//
// Prints a table; --json writes the results as JSON to FILE (or stdout).
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

const xs = await startRealXenstored(daemon);
const results: Result[] = [];
try {
  // The bridge serves one client at a time: one transport after the other, each closed first.
  const socket = await connectGuestWhenReady(xs.guestSocketPath, (p) => new XenstoreClient(new SocketTransport(p)));
  results.push(...(await bench(socket, "socket (epoll)")));
  socket.close();
  const device = await connectGuestWhenReady(
    xs.guestSocketPath,
    (p) => new XenstoreClient(new DeviceTransport("worker-on-bridge", connectUnixSocket(p))),
  );
  results.push(...(await bench(device, "device (Worker read)")));
  device.close();
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

if (jsonAt >= 0) {
  const doc = JSON.stringify({ daemon, bun: Bun.version, date: new Date().toISOString(), results }, null, 2);
  if (jsonFile) await Bun.write(jsonFile, `${doc}\n`);
  else console.log(doc);
}
