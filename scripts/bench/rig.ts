// The test bed of scripts/bench/run.ts, built once per run and torn down however the run ends:
//
// - the real C xenstored with one emulated guest (domid 7) whose ring is bridged to a Unix socket
//   (test/support/xenstored.ts); the agent gets XENSTORED_PATH=<guest bridge>, the bench watches
//   the guest's tree from dom0 with its own client (an independent xenstore-watch);
// - a network namespace with four veth links eth0..eth3 (peers peer0..peer3) carrying an IPv4, a
//   global IPv6 and a link-local address each;
// - a fixture root (`--root`): sys/class/net/ethN/device/{devtype=vif,nodename=device/vif/N},
//   sys/hypervisor/type=xen, etc/os-release, and a proc/ whose meminfo is a file the bench
//   controls (everything else in proc/ is a symlink to the real /proc);
// - xenstored's trace log (-T), from which the guest's modifying requests are counted;
// - a persistent `ip -force -batch -` in the namespace, so changes cost no `ip` start-up.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monotonicNs } from "../../native/monotonic.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { SocketTransport } from "../../src/xenstore/socket-transport.ts";
import { readTree } from "../../test/support/xenstore-tree.ts";
import { realXenstoredUnavailable, startRealXenstored, type RealXenstored } from "../../test/support/xenstored.ts";
import { watchClockJumps, type ClockJumpWatcher } from "../../native/timerfd.ts";
import { Cleanup, deathPrefix, Lines, memoryOf, run, stopProcess, withTimeout } from "./lib.ts";

export const VIFS = 4;

/** Why the rig cannot be built here, or undefined. */
export function rigUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const tool of ["ip", "nsenter"]) if (!Bun.which(tool)) return `${tool} not installed`;
  return realXenstoredUnavailable("c");
}

// --- network namespace ---------------------------------------------------------------------

export class Netns {
  readonly name = `xga-bench-${process.pid}`;
  private batcher: Bun.Subprocess<"pipe", "ignore", "pipe"> | undefined;
  private batchErr: Lines | undefined;

  constructor(private readonly cleanup: Cleanup) {}

  create(): void {
    // A bench that was SIGKILLed leaves its namespace behind (its children die with it): remove
    // those whose pid is gone.
    for (const line of run(["ip", "netns", "list"]).split("\n")) {
      const m = /^xga-bench-(\d+)\b/.exec(line);
      if (m && !existsSync(`/proc/${m[1]}`)) Bun.spawnSync(["ip", "netns", "del", `xga-bench-${m[1]}`], { stderr: "ignore" });
    }
    run(["ip", "netns", "add", this.name]);
    this.cleanup.netns(this.name);
    for (const k of ["default", "all"]) this.exec("sysctl", "-q", "-w", `net.ipv6.conf.${k}.accept_dad=0`);
    const lines = ["link set lo up"];
    for (let n = 0; n < VIFS; n++) {
      lines.push(
        `link add eth${n} type veth peer name peer${n}`,
        `link set eth${n} address 00:16:3e:00:00:0${n}`,
        `link set peer${n} up`,
        `link set eth${n} up`,
        `addr add 10.0.${n}.2/24 dev eth${n}`,
        `addr add 2001:db8:${n}::2/64 dev eth${n}`,
      );
    }
    run(["ip", "-n", this.name, "-batch", "-"], { stdin: `${lines.join("\n")}\n` });
  }

  exec(...argv: string[]): string {
    return run(["ip", "netns", "exec", this.name, ...argv]);
  }

  /** The kernel's addresses of ethN (not tentative, not dadfailed), by family. */
  kernel(): Map<number, { ipv4: Set<string>; ipv6: Set<string> }> {
    const links = JSON.parse(run(["ip", "-n", this.name, "-j", "addr", "show"])) as {
      ifname: string;
      addr_info?: { family: string; local: string; tentative?: boolean; dadfailed?: boolean }[];
    }[];
    const out = new Map<number, { ipv4: Set<string>; ipv6: Set<string> }>();
    for (const l of links) {
      const m = /^eth(\d+)$/.exec(l.ifname);
      if (!m) continue;
      const v = { ipv4: new Set<string>(), ipv6: new Set<string>() };
      for (const a of l.addr_info ?? []) {
        if (a.tentative || a.dadfailed) continue;
        (a.family === "inet" ? v.ipv4 : v.ipv6).add(a.local);
      }
      out.set(Number(m[1]), v);
    }
    return out;
  }

  /** Removes every address the bench added (keeps 10.0.N.2, 2001:db8:N::2 and link-local). */
  reset(): void {
    const lines: string[] = [];
    for (const [n, v] of this.kernel()) {
      for (const a of v.ipv4) if (a !== `10.0.${n}.2`) lines.push(`addr del ${a}/32 dev eth${n}`);
      for (const a of v.ipv6) if (a !== `2001:db8:${n}::2` && !a.startsWith("fe80:")) lines.push(`addr del ${a}/128 dev eth${n}`);
    }
    if (lines.length) Bun.spawnSync(["ip", "-n", this.name, "-force", "-batch", "-"], { stdin: Buffer.from(`${lines.join("\n")}\n`), stderr: "ignore" });
  }

  /** Waits (bounded) until every ethN has its link-local address: the kernel adds it late. */
  async settle(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const k = this.kernel();
      if (k.size === VIFS && [...k.values()].every((v) => [...v.ipv6].some((a) => a.startsWith("fe80:")))) return;
      if (Date.now() > deadline) throw new Error(`link-local addresses did not appear in ${ms} ms`);
      await Bun.sleep(50);
    }
  }

  /** Sends lines to the persistent `ip -force -batch -` (started on first use). */
  batch(lines: readonly string[]): void {
    if (!this.batcher || this.batcher.exitCode !== null) {
      this.batcher = this.cleanup.proc(
        Bun.spawn([...deathPrefix(), "ip", "-n", this.name, "-force", "-batch", "-"], { stdin: "pipe", stdout: "ignore", stderr: "pipe" }),
      );
      this.batchErr = new Lines(this.batcher.stderr);
    }
    this.batcher.stdin.write(`${lines.join("\n")}\n`);
    this.batcher.stdin.flush();
  }

  /** Errors `ip -batch` printed so far (an address that was already there…). */
  batchErrors(): string[] {
    return this.batchErr?.tail ?? [];
  }

  async close(): Promise<void> {
    if (this.batcher) {
      this.batcher.stdin.end();
      await stopProcess(this.batcher, 1000);
    }
    Bun.spawnSync(["ip", "netns", "del", this.name], { stderr: "ignore" });
  }
}

// --- fixture root --------------------------------------------------------------------------

export class FixtureRoot {
  readonly root: string;
  private meminfo: string;
  private readonly original: string;

  constructor(cleanup: Cleanup) {
    this.root = mkdtempSync(join(tmpdir(), "xga-bench-root-"));
    cleanup.dir(this.root);
    const put = (rel: string, text: string) => {
      mkdirSync(dirname(join(this.root, rel)), { recursive: true });
      writeFileSync(join(this.root, rel), text);
    };
    mkdirSync(join(this.root, "etc"), { recursive: true });
    if (existsSync("/etc/os-release")) copyFileSync("/etc/os-release", join(this.root, "etc/os-release"));
    put("etc/hostname", "bench-guest\n");
    put("sys/hypervisor/type", "xen\n");
    for (let n = 0; n < VIFS; n++) {
      put(`sys/class/net/eth${n}/device/devtype`, "vif\n");
      put(`sys/class/net/eth${n}/device/nodename`, `device/vif/${n}\n`);
    }
    // proc/: meminfo is ours; the rest points at the real /proc (self, sys/kernel/hostname…).
    mkdirSync(join(this.root, "proc"));
    for (const e of readdirSync("/proc")) {
      if (/^\d+$/.test(e) || e === "meminfo") continue;
      symlinkSync(join("/proc", e), join(this.root, "proc", e));
    }
    this.original = this.meminfo = readFileSync("/proc/meminfo", "utf8");
    writeFileSync(join(this.root, "proc/meminfo"), this.meminfo);
  }

  /** Back to the meminfo the fixture was made with. */
  resetMeminfo(): void {
    this.meminfo = this.original;
    this.write();
  }

  /** Rewrites proc/meminfo (atomically) with MemAvailable set to `kib`. */
  setMemAvailable(kib: number): void {
    this.meminfo = this.meminfo.replace(/^MemAvailable:\s+\d+ kB$/m, `MemAvailable:   ${kib} kB`);
    this.write();
  }

  private write(): void {
    const tmp = join(this.root, "proc/.meminfo.tmp");
    writeFileSync(tmp, this.meminfo);
    renameSync(tmp, join(this.root, "proc/meminfo"));
  }

  memAvailable(): number {
    return Number(/^MemAvailable:\s+(\d+) kB$/m.exec(this.meminfo)?.[1] ?? 0);
  }
}

// --- xenstore: dom0 watcher and the trace log ----------------------------------------------

export interface WatchEvent {
  path: string;
  /** CLOCK_MONOTONIC (ns) when the bench's callback ran. */
  t: bigint;
}

export interface GuestOps {
  /** WRITE / RM / MKDIR / SET_PERMS sent by the guest, all paths. */
  modifying: number;
  /**
   * Full republishes among them (a WRITE of data/os_distro, which never changes once published,
   * up to the next data/updated): the agent's answer to a wall-clock step, a resume or a
   * reconnect. On a shared machine other processes step the clock (clock_settime in the lifecycle
   * tests), so they are counted apart, and `steady` is `modifying` without them.
   */
  republishes: number;
  republishOps: number;
  steady: number;
  writes: number;
  rms: number;
  updated: number;
  byType: Record<string, number>;
  /** Modifying requests by first two path components (`attr/vif`, `data/meminfo_free`). */
  byKey: Record<string, number>;
}

export class Xenstore {
  private constructor(
    readonly daemon: RealXenstored,
    readonly dom0: XenstoreClient,
    readonly base: string,
    readonly tracePath: string,
  ) {}

  private listeners = new Set<(e: WatchEvent) => void>();
  /** Every event under the guest's tree since `start`, with times. */
  readonly log: WatchEvent[] = [];
  private logging = false;

  static async start(cleanup: Cleanup): Promise<Xenstore> {
    const daemon = await startRealXenstored("c");
    // At exit only the synchronous part of stop() runs (and the harness SIGKILLs its children),
    // so the harness's temp dir (<dir>/run/socket) is removed here as well. Steps run in reverse.
    cleanup.dir(dirname(dirname(daemon.dom0SocketPath)));
    cleanup.add(() => void daemon.stop());
    const dom0 = new XenstoreClient(new SocketTransport(daemon.dom0SocketPath));
    const base = `/local/domain/${daemon.domid}`;
    // The harness runs the daemon with `-T <its temp dir>/trace.log`; the socket is <dir>/run/socket.
    const tracePath = join(dirname(dirname(daemon.dom0SocketPath)), "trace.log");
    if (!existsSync(tracePath)) throw new Error(`xenstored trace log not found at ${tracePath} (test/support/xenstored.ts changed?)`);
    const xs = new Xenstore(daemon, dom0, base, tracePath);
    await dom0.watch(base, (path) => {
      const e = { path, t: monotonicNs() };
      if (xs.logging) xs.log.push(e);
      for (const l of xs.listeners) l(e);
    });
    return xs;
  }

  /** The next event (after now) matching `pred`. */
  next(pred: (e: WatchEvent) => boolean, ms: number, what: string): Promise<WatchEvent> {
    let listener: ((e: WatchEvent) => void) | undefined;
    const p = new Promise<WatchEvent>((resolve) => {
      listener = (e) => {
        if (pred(e)) resolve(e);
      };
      this.listeners.add(listener);
    });
    const r = withTimeout(p, ms, what).finally(() => this.listeners.delete(listener!));
    r.catch(() => {}); // awaited by the caller, or abandoned when its scenario failed
    return r;
  }

  on(cb: (e: WatchEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Starts (or restarts) keeping every event in `log`. */
  record(): void {
    this.log.length = 0;
    this.logging = true;
  }

  stopRecording(): void {
    this.logging = false;
  }

  /** The trace log's current end, to count from. */
  mark(): number {
    return Bun.file(this.tracePath).size;
  }

  /**
   * Modifying requests the guest sent after `from` (a mark()). The guest writes relative paths and
   * the bench's dom0 client absolute ones, which tells them apart. Trace lines look like
   * `IN 0x55… 20261122 01:37:08 WRITE (data/os_distro linux)`.
   */
  guestOps(from: number): GuestOps {
    const buf = readFileSync(this.tracePath).subarray(from).toString("utf8");
    const out: GuestOps = { modifying: 0, republishes: 0, republishOps: 0, steady: 0, writes: 0, rms: 0, updated: 0, byType: {}, byKey: {} };
    let inRepublish = false;
    for (const m of buf.matchAll(/^IN \S+ \S+ \S+ (WRITE|RM|MKDIR|SET_PERMS) \(([^ )]*)/gm)) {
      const [, type, path] = m as unknown as [string, string, string];
      if (path.startsWith("/")) continue; // dom0 (the bench)
      out.modifying++;
      if (type === "WRITE" && path === "data/os_distro") inRepublish = true;
      if (inRepublish) {
        out.republishOps++;
        if (type === "WRITE" && path === "data/updated") {
          inRepublish = false;
          out.republishes++;
        }
      } else out.steady++;
      out.byType[type] = (out.byType[type] ?? 0) + 1;
      if (type === "WRITE") out.writes++;
      if (type === "RM") out.rms++;
      if (path === "data/updated") out.updated++;
      const key = path.split("/").slice(0, 2).join("/");
      out.byKey[key] = (out.byKey[key] ?? 0) + 1;
    }
    return out;
  }

  /** The guest's whole tree as dom0 reads it (relative path → value). */
  tree(sub = ""): Promise<Map<string, string>> {
    return readTree(this.dom0, sub ? `${this.base}/${sub}` : this.base);
  }

  /** Published addresses by VIF id, from attr/vif/<id>/{ipv4,ipv6}/<n>. */
  async published(): Promise<Map<number, { ipv4: Set<string>; ipv6: Set<string> }>> {
    const tree = await this.tree("attr/vif");
    const out = new Map<number, { ipv4: Set<string>; ipv6: Set<string> }>();
    for (const [path, value] of tree) {
      const m = /^(\d+)\/(ipv4|ipv6)\/\d+$/.exec(path);
      const id = Number(/^(\d+)/.exec(path)?.[1] ?? NaN);
      if (Number.isNaN(id)) continue;
      if (!out.has(id)) out.set(id, { ipv4: new Set(), ipv6: new Set() });
      if (m) out.get(id)![m[2] as "ipv4" | "ipv6"].add(value);
    }
    return out;
  }

  async rm(rel: string): Promise<void> {
    await this.dom0.rm(`${this.base}/${rel}`).catch(() => {});
  }

  async close(): Promise<void> {
    this.dom0.close();
    await this.daemon.stop();
  }
}

/** Same addresses on both sides (for every ethN the kernel has). Returns the first difference. */
export function difference(
  kernel: Map<number, { ipv4: Set<string>; ipv6: Set<string> }>,
  published: Map<number, { ipv4: Set<string>; ipv6: Set<string> }>,
): string | undefined {
  for (const [id, k] of kernel) {
    const p = published.get(id);
    if (!p) return `attr/vif/${id} missing`;
    for (const fam of ["ipv4", "ipv6"] as const) {
      const missing = [...k[fam]].filter((a) => !p[fam].has(a));
      const extra = [...p[fam]].filter((a) => !k[fam].has(a));
      if (missing.length || extra.length) return `vif ${id} ${fam}: ${missing.length} missing (${missing.slice(0, 3).join(" ")}), ${extra.length} extra (${extra.slice(0, 3).join(" ")})`;
    }
  }
  for (const id of published.keys()) if (!kernel.has(id)) return `attr/vif/${id} published but not in the kernel`;
  return undefined;
}

// --- the agent and the baseline as processes ------------------------------------------------

export interface Proc {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  out: Lines;
  err: Lines;
  /** CLOCK_MONOTONIC (ns) just before the spawn. */
  t0: bigint;
  memory(): ReturnType<typeof memoryOf>;
  stop(): Promise<number | null>;
  /** Rejects if the process exits before stop() was called (race waits against it). */
  died: Promise<never>;
}

export interface Launcher {
  /**
   * transport "socket" (default): XENSTORED_PATH = the bridge socket (SocketTransport).
   * "device": XENSTORED_PATH = /dev/xga-bench-xenbus-<pid>, a raw pty relayed to the bridge, so
   * the agent opens a character device and reads it with its xenbus watcher thread, as in a real domU.
   */
  agent(opts: { gcTimer: boolean; memoryInterval?: number; args?: string[]; env?: Record<string, string>; transport?: "socket" | "device"; cold?: boolean }): Promise<Proc>;
  baseline(opts: { gcTimer: boolean; cold?: boolean }): Proc;
}

/** How long the guest bridge needs after a client leaves before it serves a new one (see xsshim-guest.c). */
const BRIDGE_GAP_MS = 400;

export function launcher(o: { agentBin: string; baselineBin: string; ns: Netns; root: FixtureRoot; xs: Xenstore; cleanup: Cleanup }): Launcher {
  let lastAgentExit = 0;
  let agentRunning = false;
  const env = (gcTimer: boolean): Record<string, string> => ({
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    NO_COLOR: "1",
    ...(gcTimer ? {} : { BUN_GC_TIMER_DISABLE: "1" }),
  });
  const spawn = (argv: string[], e: Record<string, string>, onStop: () => void): Proc => {
    // nsenter setns()es and execs: the pid is the program's own, like `ip netns exec` without
    // its mount namespace and /sys remount.
    const full = [...deathPrefix(), "nsenter", `--net=/run/netns/${o.ns.name}`, "--", ...argv];
    const t0 = monotonicNs();
    const proc = o.cleanup.proc(Bun.spawn(full, { env: e, stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
    let stopped: Promise<number | null> | undefined;
    const err = new Lines(proc.stderr);
    const died = proc.exited.then((code): never => {
      throw new Error(`${argv[0]} exited (${code}) unexpectedly: ${err.tail.slice(-5).join(" | ")}`);
    });
    // Only an exit before stop() counts; the no-op catch keeps an un-raced rejection from being
    // reported as unhandled.
    const early = new Promise<never>((_, reject) => died.catch((e) => (stopped ? undefined : reject(e))));
    early.catch(() => {});
    return {
      proc,
      pid: proc.pid,
      out: new Lines(proc.stdout),
      err,
      t0,
      memory: () => memoryOf(proc.pid),
      stop: () =>
        (stopped ??= stopProcess(proc).then((code) => {
          onStop();
          return code;
        })),
      died: early,
    };
  };
  return {
    async agent({ gcTimer, memoryInterval = 60, args = [], env: extra = {}, transport = "socket", cold = false }) {
      if (agentRunning) throw new Error("the guest bridge serves one agent at a time");
      const wait = lastAgentExit + BRIDGE_GAP_MS - Date.now();
      if (wait > 0) await Bun.sleep(wait);
      let xenstore = o.xs.daemon.guestSocketPath;
      let relay: Bun.Subprocess | undefined;
      if (transport === "device") {
        const r = await startPtyRelay(o.xs.daemon.guestSocketPath, o.cleanup);
        relay = r.proc;
        xenstore = r.device;
      }
      agentRunning = true;
      if (cold) dropFromPageCache(o.agentBin);
      return spawn(
        [o.agentBin, "run", "--stderr", "--root", o.root.root, "--memory-interval", String(memoryInterval), ...args],
        { ...env(gcTimer), ...extra, XENSTORED_PATH: xenstore },
        () => {
          if (relay) void stopProcess(relay, 500);
          agentRunning = false;
          lastAgentExit = Date.now();
        },
      );
    },
    baseline({ gcTimer, cold = false }) {
      if (cold) dropFromPageCache(o.baselineBin);
      return spawn([o.baselineBin], env(gcTimer), () => {});
    },
  };
}

/**
 * Drops `file` from the page cache (posix_fadvise DONTNEED through dd), so the next exec faults
 * its pages in from disk, as the first start after a boot does. The RSS of a binary's file-backed
 * pages depends on how they got into the cache: pages read whole (a build that just wrote the
 * file, a copy) sit in large folios that a fault maps all at once, pages faulted in by exec in
 * small ones. Both binaries of a comparison start cold, so neither is counted with the other's
 * luck. Pages mapped by a running process stay.
 */
export function dropFromPageCache(file: string): void {
  Bun.spawnSync(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"], { stderr: "ignore" });
}

// --- a xenbus-like character device -------------------------------------------------------

/**
 * A raw pty whose master is relayed to the guest bridge socket, linked as /dev/xga-bench-xenbus-*
 * (a path under /dev/ makes the agent use its device transport: open(2) + a watcher thread asleep in
 * poll(2)). Like a xenbus open, one relay is one xenstore connection: it connects on the first
 * request and exits when the agent closes the device. Needs python3 (pty, select).
 */
const PTY_RELAY = String.raw`
import os, select, signal, socket, sys, time, tty
sock_path, link = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that finally removes the link
m, s = os.openpty()
tty.setraw(s)
try:
    os.unlink(link)
except FileNotFoundError:
    pass
os.symlink(os.ttyname(s), link)
os.close(s)
print("ready", flush=True)
conn = None
try:
    while True:
        fds = [m] + ([conn] if conn else [])
        r, _, _ = select.select(fds, [], [], 0.05 if conn is None else None)
        if m in r:
            try:
                data = os.read(m, 65536)
            except OSError:
                data = b""
            if not data:
                if conn is not None:
                    break  # the agent closed the device
                time.sleep(0.002)  # not opened yet: EIO until the agent opens the slave
                continue
            if conn is None:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(sock_path)
            conn.sendall(data)
        if conn is not None and conn in r:
            data = conn.recv(65536)
            if not data:
                break
            os.write(m, data)
finally:
    os.unlink(link)
`;

export function ptyRelayUnavailable(): string | undefined {
  return Bun.which("python3") ? undefined : "python3 not installed (the pty relay for the device transport)";
}

let relays = 0;

async function startPtyRelay(socketPath: string, cleanup: Cleanup): Promise<{ proc: Bun.Subprocess; device: string }> {
  const why = ptyRelayUnavailable();
  if (why) throw new Error(why);
  const device = `/dev/xga-bench-xenbus-${process.pid}-${++relays}`;
  const proc = cleanup.proc(Bun.spawn([...deathPrefix(), "python3", "-c", PTY_RELAY, socketPath, device], { stdout: "pipe", stderr: "pipe" }));
  cleanup.add(() => rmSync(device, { force: true }));
  const out = new Lines(proc.stdout);
  const err = new Lines(proc.stderr);
  try {
    await out.waitFor((l) => l === "ready", 5000, "the pty relay", true);
  } catch (e) {
    proc.kill("SIGKILL");
    throw new Error(`${(e as Error).message}: ${err.tail.slice(-3).join(" | ")}`);
  }
  return { proc, device };
}

// --- wall-clock steps by others ------------------------------------------------------------

/**
 * Counts steps of CLOCK_REALTIME (clock_settime, `date -s`, an NTP step) as the agent sees them
 * (a CANCEL_ON_SET timerfd), so a window the agent spent republishing because another process set
 * the clock is reported as such. One step can be reported twice; steps 100 ms apart count once.
 */
export class ClockSteps {
  private readonly times: bigint[] = [];
  private readonly watcher: ClockJumpWatcher | undefined;

  constructor() {
    try {
      this.watcher = watchClockJumps(() => {
        const t = monotonicNs();
        const last = this.times.at(-1);
        if (last === undefined || t - last > 100_000_000n) this.times.push(t);
      });
    } catch {
      this.watcher = undefined; // no timerfd: steps go uncounted
    }
  }

  get available(): boolean {
    return this.watcher !== undefined;
  }

  /** Steps between two CLOCK_MONOTONIC times (ns). */
  between(from: bigint, to: bigint): number {
    return this.times.filter((t) => t >= from && t <= to).length;
  }

  close(): void {
    this.watcher?.close();
  }
}
