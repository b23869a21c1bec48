// Hooks: executables in a directory (default /etc/xen-guest-agent/fsfreeze-hook.d) run with the
// argument `freeze` before the filesystems are frozen and `thaw` after they are thawed, as
// qemu-ga's fsfreeze-hook does (flush and lock a database, then unlock it).
//
// - Trust: the directory and every hook must be owned by root and not writable by group or others,
//   or the freeze is refused with the reason: whoever can write a hook runs code as root at the
//   next freeze. A hook that is refused is an error, not skipped: a database that was meant to be
//   flushed and is not would make the snapshot look consistent when it is not.
// - Order: by name (`10-mysql`, `20-app`); thaw runs the hooks whose freeze succeeded, in reverse.
// - Each run has a time limit (SIGKILL after it). A freeze hook that fails (non-zero exit, killed,
//   cannot start) aborts the freeze; its last line of stderr (or stdout) is the error's message.
//   Failing thaw hooks are reported and do not stop the other thaw hooks.
// - Names starting with `.` or ending in `~`, `.dpkg-*`, `.rpm*` are package leftovers, not hooks.
import { lstatSync, readdirSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";

export type HookPhase = "freeze" | "thaw";

export interface HookFailure {
  hook: string;
  message: string;
}

export interface HookRun {
  /** Hooks that ran and succeeded, in the order they ran. */
  succeeded: string[];
  failures: HookFailure[];
}

export interface HookRunner {
  /** Freeze: all hooks in order, stopping at the first failure. Thaw: `names` in reverse order. */
  run(phase: HookPhase, names?: readonly string[]): Promise<HookRun>;
}

const LEFTOVER = /^\.|~$|\.dpkg-[a-z]+$|\.rpm(new|save|orig)$/;
const MAX_MESSAGE = 300;

/** Why a file or directory may not be trusted as a hook, or undefined. */
export function untrusted(st: Stats, what: string): string | undefined {
  if (st.uid !== 0) return `${what} is owned by uid ${st.uid}, not root`;
  if ((st.mode & 0o022) !== 0) return `${what} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** The hooks in `dir` by name, or the reason they may not run. A missing directory is no hooks. */
export function listHooks(dir: string): { ok: true; hooks: string[] } | { ok: false; error: string } {
  let dirStat: Stats;
  try {
    dirStat = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, hooks: [] };
    return { ok: false, error: `hook directory ${dir}: ${(e as Error).message}` };
  }
  if (!dirStat.isDirectory()) return { ok: false, error: `hook directory ${dir} is not a directory` };
  const bad = untrusted(dirStat, `hook directory ${dir}`);
  if (bad) return { ok: false, error: bad };
  const hooks: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (LEFTOVER.test(name)) continue;
    const path = join(dir, name);
    let st: Stats;
    try {
      // The link itself and what it points to must both be trusted.
      const link = lstatSync(path);
      st = link.isSymbolicLink() ? statSync(path) : link;
    } catch (e) {
      return { ok: false, error: `hook ${path}: ${(e as Error).message}` };
    }
    if (!st.isFile()) continue;
    const refused = untrusted(st, `hook ${path}`);
    if (refused) return { ok: false, error: refused };
    if ((st.mode & 0o100) === 0) return { ok: false, error: `hook ${path} is not executable` };
    hooks.push(name);
  }
  return { ok: true, hooks };
}

/** The last non-empty line of a hook's output, shortened. */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const line = lines[lines.length - 1] ?? "";
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}

export interface DirectoryHooksOptions {
  dir: string;
  /** Per run, in ms. */
  timeoutMs: number;
}

/** Runs the executables of a directory (see the file comment). */
export class DirectoryHooks implements HookRunner {
  constructor(private readonly opts: DirectoryHooksOptions) {}

  async run(phase: HookPhase, names?: readonly string[]): Promise<HookRun> {
    const listing = listHooks(this.opts.dir);
    if (!listing.ok) return { succeeded: [], failures: [{ hook: this.opts.dir, message: listing.error }] };
    const order = phase === "freeze" ? listing.hooks : [...(names ?? [])].reverse().filter((n) => listing.hooks.includes(n));
    const out: HookRun = { succeeded: [], failures: [] };
    for (const name of order) {
      const failure = await this.runOne(join(this.opts.dir, name), phase);
      if (failure === undefined) out.succeeded.push(name);
      else {
        out.failures.push({ hook: name, message: failure });
        if (phase === "freeze") break;
      }
    }
    return out;
  }

  /** One hook; undefined when it succeeded, else why not. */
  private async runOne(path: string, phase: HookPhase): Promise<string | undefined> {
    let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
    try {
      proc = Bun.spawn([path, phase], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", FSFREEZE_PHASE: phase },
        timeout: this.opts.timeoutMs,
        killSignal: "SIGKILL",
      });
    } catch (e) {
      return `cannot run: ${(e as Error).message}`;
    }
    // A hook's own children may keep the pipes open after it exits: the output is read until the
    // hook is gone, plus a moment, never until the pipes close.
    const read = (s: ReadableStream<Uint8Array>) => new Response(s).text().catch(() => "");
    const exited = proc.exited;
    const [stdout, stderr] = await Promise.all([proc.stdout, proc.stderr].map((s) =>
      Promise.race([read(s), exited.then(() => Bun.sleep(200)).then(() => "")])));
    const code = await exited;
    if (proc.signalCode) {
      return proc.signalCode === "SIGKILL" ? `killed after the ${this.opts.timeoutMs / 1000} s time limit` : `killed by ${proc.signalCode}`;
    }
    if (code === 0) return undefined;
    const said = lastLine(stderr ?? "") || lastLine(stdout ?? "");
    return `exit status ${code}${said ? `: ${said}` : ""}`;
  }
}
