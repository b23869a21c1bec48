// The fleet scenario (issue 18, opt-in: `--fleet`): what N guests cost dom0's xenstored, at rest
// and when a whole host is evacuated, on one real C xenstored and on oxenstored.
//
// Each guest is an emulated domU on the same daemon (test/support/xenstored.ts addGuest: the libxl
// skeleton, XS_INTRODUCE, its ring bridged to a socket), a network namespace with one VIF (eth0,
// a veth) carrying two IPv4 and one global IPv6 address, and a fixture root of its own whose
// proc/meminfo the bench moves every tick (memory changing as a real guest's does). Each agent
// runs in its guest's namespace with --memory-interval 60.
//
// Per daemon: xenstored's CPU (utime+stime from /proc) and the guests' requests at rest, then the
// same for an emulation of xe-guest-utilities' pattern on the same guests (measured in a real Xen
// PV guest: every 60 s one READ of unique-domain-id, one WRITE of data/updated, one refused WRITE
// of control/feature-balloon, data/meminfo_free every other pass); the evacuation storm (every
// guest's data/ and attr/ emptied and a new unique-domain-id, back to back per guest, all guests
// within one second: what the guest finds when it resumes on the destination of a migration); a
// DHCP renumbering storm (every guest's addresses change at once).
// Requests are counted from the C daemon's trace log (-T) and from oxenstored's access log (reads
// logged too; it does not log a TRANSACTION_START, so a transaction counts one request fewer).
// FLEET_KEEP_LOGS=DIR copies each daemon's trace or access log there before it is removed, and
// each agent's last 200 log lines.
//
// Everything started here (namespaces, agents, bridges, daemons, roots) is registered with the
// run's Cleanup, so it goes however the run ends.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monotonicNs } from "../../native/monotonic.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { SocketTransport } from "../../src/xenstore/socket-transport.ts";
import { readTree } from "../../test/support/xenstore-tree.ts";
import { addGuest, connectGuestWhenReady, realXenstoredUnavailable, startRealXenstored, type DaemonKind, type RealXenstored } from "../../test/support/xenstored.ts";
import { Cleanup, deathPrefix, Lines, memoryOf, median, round, run, stopProcess, summary, withTimeout, type Memory } from "./lib.ts";
import { mib, type Row } from "./scenario.ts";
import { judge, TARGETS } from "./targets.ts";

export interface FleetConfig {
  n: number;
  restMinutes: number;
  daemons: DaemonKind[];
}

interface Guest {
  domid: number;
  ns: string;
  root: string;
  socket: string;
  stopBridge(): void;
  agent?: Bun.Subprocess<"ignore", "ignore", "pipe">;
  agentErr?: Lines;
  memAvailable: number;
  v4: string[];
}

const say = (s: string) => process.stderr.write(`${s}\n`);
const FIRST_DOMID = 10;

/** The daemon's pid: the process whose command line names its temp dir. */
function daemonPid(xs: RealXenstored): number {
  const dir = join(xs.dom0SocketPath, "../..");
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (/xenstored$/.test(cmd[0] ?? "") && cmd.some((a) => a.startsWith(dir))) return Number(e);
    } catch {
      // gone
    }
  }
  throw new Error(`xenstored's pid not found (no process names ${dir})`);
}

/** utime+stime of every thread of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Traced {
  /** Requests from guests. */
  guest: number;
  /** Their WRITEs and RMs (refused ones included). */
  modifying: number;
  byType: Record<string, number>;
  /** Error answers to guests, by name. */
  errors: Record<string, number>;
}

/** Guest requests since `from` (a byte offset) in the C daemon's trace log or oxenstored's access log. */
function traced(kind: DaemonKind, logPath: string, from: number): Traced {
  const text = readFileSync(logPath).subarray(from).toString("utf8");
  const t: Traced = { guest: 0, modifying: 0, byType: {}, errors: {} };
  const request = (type: string) => {
    t.guest++;
    t.byType[type] = (t.byType[type] ?? 0) + 1;
    if (type === "WRITE" || type === "RM") t.modifying++;
  };
  const error = (code: string) => void (t.errors[code] = (t.errors[code] ?? 0) + 1);
  if (kind === "c") {
    // IN/OUT <conn> <date> <time> <TYPE> (<args>: guests' paths are relative, dom0's absolute.
    for (const m of text.matchAll(/^(IN|OUT) \S+ \S+ \S+ (\w+) \(([^ )]*)/gm)) {
      const [, dir, type, arg] = m as unknown as [string, string, string, string];
      if (dir === "IN" && !arg.startsWith("/") && type !== "WATCH_EVENT") request(type);
      if (dir === "OUT" && type === "ERROR") error(arg);
    }
  } else {
    // [time]  D<domid>[.<tx>]  <op, padded>  <args>: guests are D connections, dom0's sockets A.
    const OPS: Record<string, string> = { read: "READ", write: "WRITE", rm: "RM", directory: "DIRECTORY", mkdir: "MKDIR", watch: "WATCH", unwatch: "UNWATCH", commit: "TRANSACTION_END", getperms: "GET_PERMS", setperms: "SET_PERMS" };
    for (const m of text.matchAll(/^\[[^\]]+\]\s+D\d+(?:\.\d+)?\s+(w event|\S+)\s*(\S*)/gm)) {
      const [, op, arg] = m as unknown as [string, string, string];
      if (op === "error") error(arg);
      else if (OPS[op]) request(OPS[op]!);
    }
  }
  return t;
}

function meminfoWith(text: string, kib: number): string {
  return text.replace(/^MemAvailable:\s+\d+ kB$/m, `MemAvailable:   ${kib} kB`);
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function makeGuest(xs: RealXenstored, i: number, cleanup: Cleanup): Promise<Guest> {
  const domid = FIRST_DOMID + i;
  const bridge = await addGuest(xs, domid);
  cleanup.add(() => bridge.stop());
  const ns = `xga-fleet-${process.pid}-${i}`;
  run(["ip", "netns", "add", ns]);
  cleanup.netns(ns);
  const a = i >> 8;
  const b = i & 255;
  const v4 = [`10.${100 + a}.${b}.2`, `10.${150 + a}.${b}.2`];
  run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0"]);
  run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"]);
  const lines = [
    "link set lo up",
    "link add eth0 type veth peer name peer0",
    `link set eth0 address 00:16:3e:${(a & 255).toString(16).padStart(2, "0")}:${b.toString(16).padStart(2, "0")}:00`,
    "link set peer0 up",
    "link set eth0 up",
    ...v4.map((x) => `addr add ${x}/24 dev eth0`),
    `addr add 2001:db8:${i.toString(16)}::2/64 dev eth0`,
  ];
  run(["ip", "-n", ns, "-batch", "-"], { stdin: `${lines.join("\n")}\n` });
  const root = mkdtempSync(join(tmpdir(), "xga-fleet-root-"));
  cleanup.dir(root);
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  put("etc/os-release", existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : 'ID=linux\nNAME="Linux"\n');
  put("etc/hostname", `fleet-guest-${i}\n`);
  put("sys/hypervisor/type", "xen\n");
  put("sys/class/net/eth0/device/devtype", "vif\n");
  put("sys/class/net/eth0/device/nodename", "device/vif/0\n");
  mkdirSync(join(root, "proc"));
  for (const e of readdirSync("/proc")) {
    if (/^\d+$/.test(e) || e === "meminfo") continue;
    symlinkSync(join("/proc", e), join(root, "proc", e));
  }
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  put("proc/meminfo", meminfo);
  const memAvailable = Number(/^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0);
  return { domid, ns, root, socket: bridge.guestSocketPath, stopBridge: bridge.stop, memAvailable, v4 };
}

/** Moves every guest's MemAvailable (the agents read it on their 60 s tick). */
function moveMemory(guests: Guest[], k: number): void {
  for (const g of guests) {
    const text = readFileSync(join(g.root, "proc/meminfo"), "utf8");
    writeAtomic(join(g.root, "proc/meminfo"), meminfoWith(text, g.memAvailable - 4096 * (k % 50)));
  }
}

function startAgent(agentBin: string, g: Guest, cleanup: Cleanup): void {
  const argv = [...deathPrefix(), "nsenter", `--net=/run/netns/${g.ns}`, "--", agentBin, "run", "--stderr", "--root", g.root, "--memory-interval", "60"];
  const p = cleanup.proc(
    Bun.spawn(argv, {
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", NO_COLOR: "1", BUN_GC_TIMER_DISABLE: "1", XENSTORED_PATH: g.socket },
      stdin: "ignore", stdout: "ignore", stderr: "pipe",
    }),
  );
  g.agent = p;
  g.agentErr = new Lines(p.stderr);
}

/** Watches every guest's data/updated from dom0; resolves per guest at its next write after `since`. */
function updatedWatcher(dom0: XenstoreClient, guests: Guest[]) {
  const last = new Map<number, bigint>();
  // One watch per guest's data/updated, as a dom0 reader watches what it needs. With one watch on
  // all of /local/domain, a storm of N=100 queued thousands of events for this connection, and
  // oxenstored stopped serving the trigger's connections for over 10 s (seen in its access log;
  // most likely its per-connection output limits, quota-maxwatchevents / quota-maxoutstanding).
  const ready = Promise.all(guests.map((g) => dom0.watch(`/local/domain/${g.domid}/data/updated`, () => void last.set(g.domid, monotonicNs()))));
  return {
    ready,
    /** ms from `since` to each guest's first data/updated after it, waiting at most `ms`. */
    async after(since: bigint, boundMs: number): Promise<{ times: number[]; missing: number[] }> {
      const deadline = Date.now() + boundMs;
      for (;;) {
        const missing = guests.filter((g) => !((last.get(g.domid) ?? 0n) > since)).map((g) => g.domid);
        if (!missing.length || Date.now() > deadline) {
          return { times: guests.filter((g) => (last.get(g.domid) ?? 0n) > since).map((g) => Number(last.get(g.domid)! - since) / 1e6), missing };
        }
        await Bun.sleep(50);
      }
    },
  };
}

/** One pass of xe-guest-utilities' pattern on a guest's connection. */
async function incumbentPass(c: XenstoreClient, pass: number, memFree: number): Promise<void> {
  await c.read("unique-domain-id").catch(() => {});
  await c.write("data/updated", new Date().toUTCString());
  await c.write("control/feature-balloon", "1").catch(() => {}); // refused (EACCES) as in a real guest
  if (pass % 2 === 0) await c.write("data/meminfo_free", String(memFree));
}

async function fleetOn(kind: DaemonKind, agentBin: string, cfg: FleetConfig, cleanup: Cleanup, row: (r: Omit<Row, "scenario">) => void) {
  const label = kind === "c" ? "C xenstored" : "oxenstored";
  const xs = await startRealXenstored(kind);
  cleanup.add(() => void xs.stop());
  cleanup.dir(join(xs.dom0SocketPath, "../.."));
  const logPath = join(xs.dom0SocketPath, "../..", kind === "c" ? "trace.log" : "access.log");
  const mark = () => Bun.file(logPath).size;
  const ops = (from: number) => traced(kind, logPath, from);
  const pid = daemonPid(xs);
  const dom0 = new XenstoreClient(new SocketTransport(xs.dom0SocketPath));
  // The evacuation's trigger goes out on a few connections side by side.
  const dom0Pool = Array.from({ length: 8 }, () => new XenstoreClient(new SocketTransport(xs.dom0SocketPath), { timeoutMs: 60_000 }));
  const guests: Guest[] = [];
  try {
    say(`[fleet] ${label}: ${cfg.n} guests …`);
    for (let i = 0; i < cfg.n; i++) guests.push(await makeGuest(xs, i, cleanup));
    const updated = updatedWatcher(dom0, guests);
    await updated.ready;
    // Start the agents, a few at a time (as a host boots its guests), and wait for every first publish.
    const t0 = monotonicNs();
    for (const g of guests) {
      startAgent(agentBin, g, cleanup);
      await Bun.sleep(20);
    }
    // Bounded generously: a hundred agents starting on two shared cores queue for the CPU.
    const first = await updated.after(t0, 180_000);
    if (first.missing.length) {
      const g = guests.find((x) => x.domid === first.missing[0])!;
      throw new Error(`${first.missing.length} agents did not publish in 180 s (domids ${first.missing.slice(0, 5).join(" ")}; dom${g.domid}: exit ${g.agent!.exitCode}, ${g.agentErr!.tail.slice(-2).join(" | ")})`);
    }
    await Bun.sleep(10_000); // start-up settle (pages given back 5 s after the first publish)

    // At rest, agents: memory moved every 30 s, so each 60 s tick sees a new value.
    const restMs = cfg.restMinutes * 60_000;
    const window = async () => {
      const m = mark();
      const c0 = cpuSeconds(pid);
      let k = 0;
      const timer = setInterval(() => moveMemory(guests, ++k), 30_000);
      try {
        await Bun.sleep(restMs);
      } finally {
        clearInterval(timer);
      }
      return { cpu: cpuSeconds(pid) - c0, ops: ops(m) };
    };
    const agentsRest = await window();
    const mems: Memory[] = guests.map((g) => memoryOf(g.agent!.pid));

    // Evacuation: every guest's data/ and attr/ emptied and a new unique-domain-id, within 1 s.
    // Requests, CPU and times count from the start of `trigger`.
    const evac = async (kindOf: string, trigger: () => Promise<void>) => {
      const m = mark();
      const c0 = cpuSeconds(pid);
      const since = monotonicNs();
      await trigger();
      const triggerMs = Number(monotonicNs() - since) / 1e6;
      const done = await updated.after(since, 30_000);
      await Bun.sleep(1000); // writes after the last data/updated
      const s = summary(done.times);
      const counted = ops(m);
      // Keys (nodes) under a guest's data/ and attr/ now: what "requests per key" divides by.
      const keys = await Promise.all(
        guests.slice(0, 3).map(async (g) => (await readTree(dom0, `/local/domain/${g.domid}/data`)).size + (await readTree(dom0, `/local/domain/${g.domid}/attr`)).size),
      );
      return { kindOf, triggerMs, s, missing: done.missing, cpu: cpuSeconds(pid) - c0, ops: counted, keysPerGuestSample: keys };
    };
    // Per guest, dom0 removes everything under data/ and attr/ and writes a new unique-domain-id,
    // back to back on one connection (processed in order, the events within a millisecond): what
    // the guest finds when it resumes on the destination of a migration. Not in a transaction: on
    // C xenstored an open transaction turns on the write rate limit for every guest (see
    // docs/performance.md), and the bench would then measure its own trigger.
    const listings = await Promise.all(guests.map(async (g) => {
      const base = `/local/domain/${g.domid}`;
      const kids = await Promise.all(["data", "attr"].map(async (dir) => (await dom0.directory(`${base}/${dir}`).catch(() => [] as string[])).map((k) => `${base}/${dir}/${k}`)));
      return kids.flat();
    }));
    // Each connection takes its guests one after the other, so a guest's requests are not
    // interleaved with other guests' (they reach the daemon together).
    const evacuation = await evac("evacuation", async () => {
      await Promise.all(dom0Pool.map(async (c, k) => {
        for (let i = k; i < guests.length; i += dom0Pool.length) {
          const g = guests[i]!;
          await Promise.all([...listings[i]!.map((path) => c.rm(path).catch(() => {})), c.write(`/local/domain/${g.domid}/unique-domain-id`, crypto.randomUUID())]);
        }
      }));
    });
    // DHCP renumbering: every guest's first IPv4 address replaced at once.
    const renumber = await evac("renumbering", async () => {
      await Promise.all(
        guests.map(async (g, i) => {
          const next = `10.${200 + (i >> 8)}.${i & 255}.2`;
          const p = Bun.spawn(["ip", "-n", g.ns, "-batch", "-"], { stdin: Buffer.from(`addr del ${g.v4[0]}/24 dev eth0\naddr add ${next}/24 dev eth0\n`), stderr: "ignore" });
          await p.exited;
          g.v4[0] = next;
        }),
      );
    });
    // Every guest's tree complete afterwards (both addresses published)?
    let wrong = 0;
    for (const g of guests) {
      const pub = new Set<string>();
      for (const k of await dom0.directory(`/local/domain/${g.domid}/attr/vif/0/ipv4`).catch(() => [] as string[])) pub.add(await dom0.read(`/local/domain/${g.domid}/attr/vif/0/ipv4/${k}`));
      if (!g.v4.every((a) => pub.has(a)) || !(await dom0.read(`/local/domain/${g.domid}/data/os_name`).catch(() => ""))) wrong++;
    }

    // The incumbent's pattern on the same guests: agents stopped, one client per guest ring.
    await Promise.all(guests.map((g) => stopProcess(g.agent!)));
    await Bun.sleep(500); // the bridges' gap after a client leaves
    const clients = await Promise.all(guests.map((g) => connectGuestWhenReady(g.socket, (p) => new XenstoreClient(new SocketTransport(p)))));
    const m = mark();
    const c0 = cpuSeconds(pid);
    const timers: ReturnType<typeof setTimeout>[] = [];
    clients.forEach((c, i) => {
      let pass = 0;
      const tick = () => void incumbentPass(c, pass++, guests[i]!.memAvailable - 4096 * pass).catch(() => {});
      // Guests started at random phases of the 60 s period.
      timers.push(setTimeout(() => {
        tick();
        timers.push(setInterval(tick, 60_000));
      }, Math.random() * 60_000));
    });
    await Bun.sleep(restMs);
    for (const t of timers) clearTimeout(t);
    const incumbentRest = { cpu: cpuSeconds(pid) - c0, ops: ops(m) };
    for (const c of clients) c.close();

    // Rows.
    const perMin = (ops: Traced) => `${round(ops.guest / cfg.restMinutes, 0)} requests/min`;
    row({
      metric: `${label}, N=${cfg.n}: at rest ${cfg.restMinutes} min, xenstored CPU; guests' requests (memory moving every tick)`,
      value: `${round(agentsRest.cpu, 2)} s CPU; ${perMin(agentsRest.ops)}`,
      baseline: `${round(incumbentRest.cpu, 2)} s CPU; ${perMin(incumbentRest.ops)} (xe-guest-utilities pattern)`,
      ratio: `${round(agentsRest.cpu / incumbentRest.cpu, 2)}× CPU`,
      ...judge(TARGETS.fleetRestCpuRatio, incumbentRest.cpu > 0 ? agentsRest.cpu / incumbentRest.cpu : undefined),
    });
    for (const e of [evacuation, renumber]) {
      const evacuating = e.kindOf === "evacuation";
      const keys = evacuating ? median(e.keysPerGuestSample) * cfg.n : cfg.n * 2;
      const reqPerKey = e.ops.modifying / Math.max(1, keys);
      const errs = Object.entries(e.ops.errors).filter(([k]) => k !== "ENOENT").map(([k, v]) => `${k} ${v}`).join(", ") || "none";
      row({
        metric: `${label}, N=${cfg.n}: ${e.kindOf} storm (trigger sent in ${round(e.triggerMs, 0)} ms) → every guest's data/updated`,
        value: `p50 ${round(e.s.p50, 0)} ms, p99 ${round(e.s.p99, 0)} ms, max ${round(e.s.max, 0)} ms${e.missing.length ? `; ${e.missing.length} guests NOT done in 30 s` : ""}; xenstored ${round(e.cpu, 2)} s CPU`,
        ...(e.kindOf === "evacuation" ? judge(TARGETS.fleetEvacuationP99Ms, e.missing.length ? Infinity : e.s.p99) : {}),
      });
      row({
        metric: `  ${e.kindOf}: guests' WRITE+RM per key changed; error answers (ENOENT left out)`,
        value: `${e.ops.modifying} / ${evacuating ? `${median(e.keysPerGuestSample)} keys × ${cfg.n}` : `${keys} keys (1 address removed, 1 added per guest)`} = ${round(reqPerKey, 2)}; ${errs}; ${round(e.ops.guest / cfg.n, 0)} requests per guest in all`,
        ...(e.kindOf === "evacuation" ? judge(TARGETS.fleetRequestsPerKey, reqPerKey) : {}),
      });
    }
    row({ metric: `  ${label}: guests whose tree is complete after both storms`, value: `${cfg.n - wrong} of ${cfg.n}`, ...judge(TARGETS.fleetGuestsWrong, wrong) });
    const rss = mems.map((x) => x.rssKiB);
    const anon = mems.map((x) => x.rssAnonKiB);
    row({
      metric: `  ${label}: agent memory per guest at rest (median; RSS / RssAnon), sum over ${cfg.n}`,
      value: `${mib(median(rss))} / ${mib(median(anon))} MiB; sum ${mib(rss.reduce((a, b) => a + b, 0))} / ${mib(anon.reduce((a, b) => a + b, 0))} MiB`,
    });
    return { agentsRest, incumbentRest, evacuation, renumber, wrong, memory: mems };
  } finally {
    await Promise.all(guests.map((g) => (g.agent ? stopProcess(g.agent, 1000) : undefined)));
    for (const g of guests) {
      g.stopBridge();
      Bun.spawnSync(["ip", "netns", "del", g.ns], { stderr: "ignore" });
    }
    dom0.close();
    for (const c of dom0Pool) c.close();
    const keep = process.env.FLEET_KEEP_LOGS;
    if (keep) {
      Bun.spawnSync(["cp", logPath, join(keep, `${kind}-N${cfg.n}-${logPath.slice(logPath.lastIndexOf("/") + 1)}`)]);
      for (const g of guests) if (g.agentErr) writeFileSync(join(keep, `${kind}-N${cfg.n}-agent-${g.domid}.log`), g.agentErr.tail.join("\n") + "\n");
    }
    await xs.stop();
  }
}

export async function fleet(agentBin: string, cfg: FleetConfig, cleanup: Cleanup): Promise<{ rows: Row[]; result: unknown }> {
  const rows: Row[] = [];
  const row = (r: Omit<Row, "scenario">) => void rows.push({ scenario: "fleet", ...r });
  const result: Record<string, unknown> = {};
  // The shim's event channels are datagrams to the daemon's socket, and Linux queues only
  // net.unix.max_dgram_qlen (10 by default) of them: in a storm of N guests the rest were dropped,
  // and oxenstored, which serves only the ring a notification names, left that guest's requests
  // unread until the agent's 10 s request timeout reconnected (the "9 s straggler"). A real event
  // channel is a pending bit and loses nothing, so the queue is made long enough for the fleet.
  const QLEN = "/proc/sys/net/unix/max_dgram_qlen";
  const qlen = readFileSync(QLEN, "utf8").trim();
  writeFileSync(QLEN, `${Math.max(Number(qlen), 4 * cfg.n + 64)}\n`);
  cleanup.add(() => writeFileSync(QLEN, `${qlen}\n`));
  for (const kind of cfg.daemons) {
    const why = realXenstoredUnavailable(kind);
    if (why) {
      row({ metric: `${kind}: skipped`, value: why });
      continue;
    }
    const bound = (2 * cfg.restMinutes * 60 + 180 + cfg.n * 2) * 1000;
    try {
      result[kind] = await withTimeout(fleetOn(kind, agentBin, cfg, cleanup, row), bound, `fleet on ${kind}`);
    } catch (e) {
      // One daemon's failure is a row; the other daemon is still measured.
      row({ metric: `${kind === "c" ? "C xenstored" : "oxenstored"}, N=${cfg.n}: FAILED`, value: (e as Error).message });
      result[kind] = { failed: (e as Error).message };
    }
  }
  return { rows, result };
}
