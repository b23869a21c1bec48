// The real Debian xenstored (C) or oxenstored, run without a hypervisor through the LD_PRELOAD
// shim in <repo>/../shared/xen/shim (see shared/reference/real-xen.md §1), plus one emulated guest
// domain (libxl's permissions, XS_INTRODUCE) whose ring is bridged to a Unix socket by
// xsshim-guest. A client on `guestSocketPath` sees what a domU process sees on /dev/xen/xenbus;
// `dom0SocketPath` is the privileged toolstack view.
//
// Availability is detected, never installed: `realXenstoredUnavailable()` says why tests must
// skip. Everything is built and run under a fresh temp dir that stop() removes.
import { existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export type DaemonKind = "c" | "ocaml";

export interface RealXenstored {
  kind: DaemonKind;
  /** Privileged (dom0) socket: the test plays the toolstack through it. */
  dom0SocketPath: string;
  /** The guest's ring exposed as a socket; serves ONE client at a time (like one xenbus open). */
  guestSocketPath: string;
  domid: number;
  /** Signals the daemon itself (SIGSTOP: a wedged xenstored; SIGCONT: back). */
  signal(sig: "SIGSTOP" | "SIGCONT"): void;
  /** Kills the bridge and the daemon, waits for them, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const XEN_BIN = "/usr/lib/xen-4.17/bin";
export const SHIM_SOURCE_DIR = resolve(import.meta.dir, "../../../shared/xen/shim");
const TOOLS = ["xenstore-read", "xenstore-write", "xenstore-chmod", "xenstore-rm"];

/** Why the real daemons cannot run here, or undefined when they can. */
export function realXenstoredUnavailable(kind: DaemonKind = "c"): string | undefined {
  for (const f of ["xsshim.c", "xsshim-guest.c", "xsshim-mkdomain.sh"]) {
    if (!existsSync(join(SHIM_SOURCE_DIR, f))) return `shim source ${join(SHIM_SOURCE_DIR, f)} not found`;
  }
  const daemon = join(XEN_BIN, kind === "c" ? "xenstored" : "oxenstored");
  if (!existsSync(daemon)) return `${daemon} not installed (apt package xen-utils-4.17)`;
  for (const t of TOOLS) if (!Bun.which(t)) return `${t} not installed (apt package xenstore-utils)`;
  if (!Bun.which("gcc")) return "gcc not installed";
  if (!existsSync("/usr/include/xenstore.h")) return "xenstore.h not installed (apt package libxen-dev)";
  if (kind === "ocaml" && process.getuid?.() !== 0) return "oxenstored needs root (mount namespace for /run/xenstored)";
  if (kind === "ocaml" && !Bun.which("unshare")) return "unshare not installed";
  return undefined;
}

let built: Promise<string> | undefined;

/** Every live child, killed at exit even when a test forgets stop() (or crashes). */
const live = new Set<Bun.Subprocess>();
process.once("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/**
 * Spawns under `setpriv --pdeathsig KILL`: if the test runner itself is killed, the kernel
 * kills the daemon too, so no xenstored outlives its test.
 */
function spawnDaemon(cmd: string[], env: Record<string, string | undefined>, logPath: string): Bun.Subprocess {
  const log = Bun.file(logPath);
  const argv = Bun.which("setpriv") ? ["setpriv", "--pdeathsig", "KILL", "--", ...cmd] : cmd;
  const p = Bun.spawn(argv, { env, stdout: log, stderr: log });
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p;
}

/**
 * Compiles xsshim.so and xsshim-guest into `<tmp>/xga-xsshim-<hash of the sources>`, once: later
 * runs reuse it, and a build is renamed into place whole, so concurrent runs never see half of one.
 */
function buildShim(): Promise<string> {
  built ??= (async () => {
    const hasher = new Bun.CryptoHasher("sha256");
    for (const f of ["xsshim.c", "xsshim-guest.c"]) hasher.update(await Bun.file(join(SHIM_SOURCE_DIR, f)).bytes());
    const dir = join(tmpdir(), `xga-xsshim-${hasher.digest("hex").slice(0, 16)}`);
    if (existsSync(join(dir, "xsshim-guest"))) return dir;
    const work = mkdtempSync(join(tmpdir(), "xga-xsshim-build-"));
    try {
      await run(["gcc", "-shared", "-fPIC", "-O2", "-o", join(work, "xsshim.so"), join(SHIM_SOURCE_DIR, "xsshim.c"), "-ldl"]);
      await run(["gcc", "-O2", "-o", join(work, "xsshim-guest"), join(SHIM_SOURCE_DIR, "xsshim-guest.c"), "-lxenstore"]);
      try {
        renameSync(work, dir);
      } catch {
        // Another run won the race; its build is as good as ours.
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return dir;
  })();
  return built;
}

export async function startRealXenstored(
  kind: DaemonKind,
  opts: { domid?: number; name?: string } = {},
): Promise<RealXenstored> {
  const reason = realXenstoredUnavailable(kind);
  if (reason) throw new Error(`real xenstored unavailable: ${reason}`);
  const bin = await buildShim();
  const dir = mkdtempSync(join(tmpdir(), `xga-xenstored-${kind}-`));
  const runDir = join(dir, "run");
  const shimDir = join(dir, "shim");
  await run(["mkdir", "-p", runDir, shimDir]);
  const dom0SocketPath = join(runDir, "socket");
  const env = { ...process.env, XSSHIM_DIR: shimDir, XENSTORED_PATH: dom0SocketPath };
  const procs: Bun.Subprocess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const p of procs.reverse()) {
      p.kill("SIGKILL");
      await p.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const log = join(dir, "daemon.log");
    if (kind === "c") {
      procs.push(
        spawnDaemon(
          [join(XEN_BIN, "xenstored"), "-N", "-T", join(dir, "trace.log")],
          { ...env, LD_PRELOAD: join(bin, "xsshim.so"), XENSTORED_RUNDIR: runDir },
          log,
        ),
      );
    } else {
      // oxenstored hard-codes /run/xenstored/socket and raises RLIMIT_NOFILE to fs.nr_open:
      // a private mount namespace gives it its own /run/xenstored and nr_open (run-xenstored.sh).
      const conf = (await Bun.file("/etc/xen/oxenstored.conf").text())
        .split("\n")
        .filter((l) => !l.startsWith("#") && !l.startsWith("pid-file"))
        // Every request in the access log, reads too, never rotated (the fleet bench counts them).
        .concat([`pid-file = ${join(dir, "oxenstored.pid")}`, `access-log-file = ${join(dir, "access.log")}`, "access-log-read-ops = true", "access-log-nb-lines = 1000000000"])
        .join("\n");
      await Bun.write(join(dir, "oxenstored.conf"), conf);
      const hardNofile = (await run(["sh", "-c", "ulimit -Hn"])).trim();
      await Bun.write(join(dir, "nr_open"), `${hardNofile}\n`);
      const script =
        `mount --bind ${dir}/nr_open /proc/sys/fs/nr_open && mkdir -p /run/xenstored && ` +
        `mount --bind ${runDir} /run/xenstored && exec ${XEN_BIN}/oxenstored --no-fork --config-file ${dir}/oxenstored.conf`;
      procs.push(spawnDaemon(["unshare", "-m", "sh", "-c", script], { ...env, LD_PRELOAD: join(bin, "xsshim.so") }, log));
    }
    await waitForPath(dom0SocketPath, procs[0]!, dir);
    const domid = opts.domid ?? 7;
    await run([join(SHIM_SOURCE_DIR, "xsshim-mkdomain.sh"), String(domid), opts.name ?? `guest${domid}`], env);
    const guestSocketPath = join(dir, `xenbus-${domid}`);
    procs.push(spawnDaemon([join(bin, "xsshim-guest"), String(domid), guestSocketPath, "--introduce"], env, join(dir, "bridge.log")));
    // The socket file appears at bind(), before listen(): wait for the bridge's "ready" line.
    await waitFor(async () => (await Bun.file(join(dir, "bridge.log")).text().catch(() => "")).includes("ready on"), procs[1]!, dir, guestSocketPath);
    const daemon = procs[0]!;
    const signal = (sig: "SIGSTOP" | "SIGCONT") => void daemon.kill(sig);
    return { kind, dom0SocketPath, guestSocketPath, domid, signal, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function run(cmd: string[], env?: Record<string, string | undefined>): Promise<string> {
  const p = Bun.spawn(cmd, { env: env ?? process.env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err.trim()}`);
  return out;
}

/** Waits (bounded, 5 s) for a daemon to create its socket; fails early if it died. */
function waitForPath(path: string, proc: Bun.Subprocess, dir: string): Promise<void> {
  return waitFor(async () => existsSync(path), proc, dir, path);
}

async function waitFor(ready: () => Promise<boolean>, proc: Bun.Subprocess, dir: string, path: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await ready())) {
    if (proc.exitCode !== null) {
      const log = await Bun.file(join(dir, "daemon.log")).text().catch(() => "");
      throw new Error(`daemon exited (${proc.exitCode}) before creating ${path}: ${log.slice(-500)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await Bun.sleep(10);
  }
}

/**
 * One more emulated guest on a running daemon (the fleet bench: many domUs on one xenstored): the
 * libxl skeleton for `domid`, XS_INTRODUCE and its ring bridged to `<temp dir>/xenbus-<domid>`.
 * The bridge is killed by the daemon's stop() (it removes the temp dir; the bridge dies with its
 * parent) or by the returned stop().
 */
export async function addGuest(xs: RealXenstored, domid: number): Promise<{ guestSocketPath: string; stop(): void }> {
  const bin = await buildShim();
  const dir = join(xs.dom0SocketPath, "../..");
  const env = { ...process.env, XSSHIM_DIR: join(dir, "shim"), XENSTORED_PATH: xs.dom0SocketPath };
  await run([join(SHIM_SOURCE_DIR, "xsshim-mkdomain.sh"), String(domid), `guest${domid}`], env);
  const guestSocketPath = join(dir, `xenbus-${domid}`);
  const logPath = join(dir, `bridge-${domid}.log`);
  const p = spawnDaemon([join(bin, "xsshim-guest"), String(domid), guestSocketPath, "--introduce"], env, logPath);
  await waitFor(async () => (await Bun.file(logPath).text().catch(() => "")).includes("ready on"), p, dir, guestSocketPath);
  return { guestSocketPath, stop: () => p.kill("SIGKILL") };
}

/**
 * A client on a guest bridge socket once the bridge really serves it. xsshim-guest serves one
 * client and, right after the previous one left, may close a newcomer (it accepts before it
 * notices the close) or reset its watches; a real /dev/xen/xenbus has no such window. Retries a
 * round trip, bounded (about 1 s).
 */
export async function connectGuestWhenReady(
  path: string,
  make: (path: string) => import("../../src/xenstore/client.ts").XenstoreClient,
): Promise<import("../../src/xenstore/client.ts").XenstoreClient> {
  for (let attempt = 1; ; attempt++) {
    const client = make(path);
    try {
      await client.read("domid");
      return client;
    } catch (e) {
      client.close();
      if (attempt >= 40) throw e;
      await Bun.sleep(25);
    }
  }
}
