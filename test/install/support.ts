// Shared by the install tests: the release binaries (built once per `bun test` run, reused while
// newer than every source file), and small roots to chroot into.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const REPO = join(import.meta.dir, "../..");
export const DIST = join(REPO, "dist");
export const TARGETS = ["linux-x64", "linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"] as const;
export type Target = (typeof TARGETS)[number];

/** The newest modification time of the files under `paths` (relative to the repository). */
export function newestMtime(paths: string[]): number {
  let newest = 0;
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) if (existsSync(join(REPO, p))) walk(join(REPO, p));
  return newest;
}

function newestSource(): number {
  return newestMtime(["src", "native", "deploy", "package.json", "scripts/build.ts"]);
}

let built: Promise<void> | undefined;

/** dist/xen-guest-agent-<target> for every target, building all of them once when any is stale. */
export async function releaseBinary(target: Target): Promise<string> {
  built ??= (async () => {
    const newest = newestSource();
    const fresh = TARGETS.every((t) => existsSync(join(DIST, `xen-guest-agent-${t}`)) && statSync(join(DIST, `xen-guest-agent-${t}`)).mtimeMs > newest);
    if (fresh && existsSync(join(DIST, "SHA256SUMS"))) return;
    const p = Bun.spawn([process.execPath, "scripts/build.ts", "--all"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`scripts/build.ts --all failed (exit ${code}):\n${out}${err}`);
  })();
  await built;
  return join(DIST, `xen-guest-agent-${target}`);
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `xga-${name}-`));
}

export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Copies `file` to `root` + `at` (default: the same path), creating parents. */
export function copyInto(root: string, file: string, at: string = file, mode?: number): void {
  mkdirSync(dirname(join(root, at)), { recursive: true });
  copyFileSync(file, join(root, at));
  if (mode !== undefined) chmodSync(join(root, at), mode);
}

/** The shared libraries of a host executable, from ldd (paths as seen on this machine). */
function hostLibraries(executable: string): string[] {
  const r = Bun.spawnSync(["ldd", executable], { stdout: "pipe" });
  return [...r.stdout.toString().matchAll(/(\/\S+) \(0x/g)].map((m) => m[1] as string);
}

/**
 * A minimal glibc root: /bin/sh (dash) with the libraries it and `extra` executables need, so a
 * shell script and the agent run in it under chroot.
 */
export function glibcRoot(root: string, extra: string[]): void {
  copyInto(root, "/bin/dash", "/bin/sh");
  for (const exe of ["/bin/dash", ...extra]) for (const lib of hostLibraries(exe)) if (!existsSync(join(root, lib))) copyInto(root, lib);
  mkdirSync(join(root, "tmp"), { recursive: true });
  devNull(root);
}

/** Bun's spawn opens /dev/null for ignored stdio, and fails with ENOENT when it is missing. */
export function devNull(root: string): void {
  mkdirSync(join(root, "dev"), { recursive: true });
  if (!existsSync(join(root, "dev/null"))) Bun.spawnSync(["mknod", "-m", "666", join(root, "dev/null"), "c", "1", "3"]);
}

export function writeExecutable(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode: 0o755 });
}

/** Why commands cannot run in a chroot here, or undefined when they can (root and unshare are needed). */
export function chrootUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (chroot needs root)";
  if (!Bun.which("unshare")) return "unshare (util-linux) is not installed";
  return undefined;
}

/**
 * Runs `argv` chrooted in `root`, in fresh mount and PID namespaces with its own /proc (the Bun
 * runtime reads /proc/self/exe to find the embedded program).
 */
export function inChroot(root: string, argv: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  mkdirSync(join(root, "proc"), { recursive: true });
  const r = Bun.spawnSync(["unshare", "--mount", "--pid", "--fork", `--root=${root}`, "--mount-proc", ...argv], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...env },
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function skipped(what: string, why: string): void {
  console.log(`skipped: ${what}: ${why}`);
}
