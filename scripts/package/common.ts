// What the package builders share: the version, which release binary goes into which package
// architecture, and the files every package installs.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "../..");
export const DIST = join(REPO, "dist");
export const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
/** Package revision: bump when the packaging changes and the agent does not. */
export const RELEASE = "1";

export const SUMMARY = "Xen guest agent: publishes guest facts to xenstore for dom0";
/** Extended description, wrapped under 80 columns (Debian policy 5.6.13). */
export const DESCRIPTION = `Runs inside a Xen virtual machine and writes the guest's operating
system, memory, host name, network addresses and volumes to xenstore,
where XAPI, Xen Orchestra and xl read them. A drop-in replacement for
xe-guest-utilities (xe-daemon) and for the Rust xen-guest-agent: the
same keys, updated from kernel events, without shell scripts.`;
/** The project's home page for package metadata (PACKAGE_HOMEPAGE); left out when not set. */
export const HOMEPAGE = process.env.PACKAGE_HOMEPAGE ?? "";
/** Debian's own variables name the packager; the default is the Xen Project's development list. */
export const MAINTAINER =
  process.env.DEBFULLNAME && process.env.DEBEMAIL ? `${process.env.DEBFULLNAME} <${process.env.DEBEMAIL}>` : "Xen guest agent packagers <xen-devel@lists.xenproject.org>";

export type PackageArch = "x86_64" | "aarch64";

/**
 * The release binary for each architecture. x86-64 packages carry the baseline file: with Bun
 * 1.4.5 it is the same runtime as linux-x64 (scripts/build.ts checks the build ids), and it stays
 * the one to ship should a later Bun publish a distinct baseline runtime for CPUs without AVX2.
 */
export const BINARY_FOR: Record<PackageArch, string> = {
  x86_64: "xen-guest-agent-linux-x64-baseline",
  aarch64: "xen-guest-agent-linux-arm64",
};

export function binaryFor(arch: PackageArch): string {
  const file = join(DIST, BINARY_FOR[arch]);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`bun scripts/build.ts --all\` first`);
  return file;
}

/** Files every package installs, besides the binary: source in the repository → installed path. */
export const UNIT_SOURCE = join(REPO, "deploy/systemd/xen-guest-agent.service");
export const MANPAGE_SOURCE = join(REPO, "deploy/man/xen-guest-agent.8");
export const LICENSE_SOURCE = join(REPO, "LICENSE");
/** systemd preset: enable the service on install (distributions' default presets disable it). */
export const PRESET_SOURCE = join(REPO, "deploy/systemd/80-xen-guest-agent.preset");

/** Parses `--arch a,b` (default: every architecture) for the package scripts. */
export function archsFrom(argv: string[], known: readonly PackageArch[] = ["x86_64", "aarch64"]): PackageArch[] {
  if (argv.length === 0) return [...known];
  if (argv.length !== 2 || argv[0] !== "--arch") throw new Error("usage: [--arch x86_64,aarch64]");
  const archs = (argv[1] as string).split(",");
  for (const a of archs) if (!known.includes(a as PackageArch)) throw new Error(`unknown architecture '${a}' (known: ${known.join(", ")})`);
  return archs as PackageArch[];
}

/**
 * Runs `argv`, returning its output. `input` is written to its standard input (a passphrase for
 * --passphrase-fd 0: never in argv, so never in the error message either); `env` replaces the environment.
 */
export function run(argv: string[], cwd?: string, o: { input?: string; env?: Record<string, string | undefined> } = {}): string {
  const stdin = o.input === undefined ? "ignore" : new TextEncoder().encode(o.input);
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", stdin, env: o.env });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.exitCode}):\n${r.stdout}${r.stderr}`);
  return r.stdout.toString();
}
