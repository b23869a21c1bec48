#!/usr/bin/env bun
// Builds the agent into single executables.
//
//   bun scripts/build.ts                    dist/xen-guest-agent for this machine
//   bun scripts/build.ts --target linux-arm64-musl [--target …]
//   bun scripts/build.ts --all              every release target, plus dist/SHA256SUMS
//
// A root daemon must not load code from its working directory, so bunfig.toml and .env
// autoloading are off (bun-runtime.md §6). Never strip the result: strip removes the `.bun`
// section and leaves plain `bun` behind.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { elfBuildId } from "./release/build-id.ts";

export const TARGETS = {
  "linux-x64": "bun-linux-x64",
  "linux-x64-baseline": "bun-linux-x64-baseline",
  "linux-arm64": "bun-linux-arm64",
  "linux-x64-musl": "bun-linux-x64-musl",
  "linux-arm64-musl": "bun-linux-arm64-musl",
} as const;
type TargetName = keyof typeof TARGETS;

const repo = join(import.meta.dir, "..");
/**
 * The xenbus reader, the clock-jump timerfd and the mountinfo watch fall back to a Worker
 * (native/fd-worker.ts) where bun:ffi's cc cannot compile their threads; a compiled binary only
 * has it if it is an entrypoint. (native/fd-thread.c is embedded by its text import.)
 */
const ENTRYPOINTS = ["src/main.ts", "native/fd-worker.ts"].filter((p) => existsSync(join(repo, p)));

function buildNumber(): number {
  if (process.env.BUILD_NUMBER && /^\d+$/.test(process.env.BUILD_NUMBER)) return Number(process.env.BUILD_NUMBER);
  const git = Bun.spawnSync(["git", "rev-list", "--count", "HEAD"], { cwd: repo, stderr: "ignore" });
  const n = Number(git.stdout.toString().trim());
  return git.exitCode === 0 && Number.isSafeInteger(n) ? n : 0;
}

/**
 * Flags for every executable (the bench's idle baseline is built with them too):
 * - no bunfig.toml / .env autoload: a root daemon must not load code from its working directory;
 * - bytecode compiled at build time (ESM, so top-level await builds): the source is not parsed at
 *   start, about 1 MB less RSS and anonymous memory;
 * - JIT tier-up thresholds ×100: the agent's code runs a few hundred times a minute at most, and a
 *   JIT compile of start-up code costs about 3 MB of RSS for the whole life of the process
 *   (docs/performance.md); code that gets really hot (an address storm) is still compiled.
 */
export const RUNTIME_FLAGS = [
  "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv",
  "--bytecode", "--format=esm", "--compile-jit-policy=100",
];

function compile(outfile: string, target: string | undefined): void {
  const args = [
    "build", "--compile", ...ENTRYPOINTS, "--outfile", outfile,
    ...RUNTIME_FLAGS,
    `--define=__BUILD_NUMBER__=${buildNumber()}`,
    ...(target ? [`--target=${target}`] : []),
  ];
  const r = Bun.spawnSync([process.execPath, ...args], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    process.stderr.write(r.stdout.toString() + r.stderr.toString());
    throw new Error(`bun build failed for ${target ?? "host"} (exit ${r.exitCode})`);
  }
}

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * Whether dist/'s linux-x64-baseline embeds another runtime than linux-x64 (compared by build
 * id). Bun 1.4.5 publishes the same x64 runtime as @oven/bun-linux-x64 and
 * @oven/bun-linux-x64-baseline, so with it the two files differ only in name; the docs promise
 * no difference, and this says so at build time should a Bun upgrade change it.
 */
export function baselineRuntime(outDir: string): { x64: string; baseline: string; distinct: boolean } | undefined {
  const x64 = join(outDir, "xen-guest-agent-linux-x64");
  const baseline = join(outDir, "xen-guest-agent-linux-x64-baseline");
  if (!existsSync(x64) || !existsSync(baseline)) return undefined;
  const [a, b] = [elfBuildId(x64), elfBuildId(baseline)];
  if (!a || !b) throw new Error("no GNU build id in the x64 release files: cannot tell their runtimes apart");
  return { x64: a, baseline: b, distinct: a !== b };
}

function main(argv: string[]): void {
  const outDir = join(repo, "dist");
  mkdirSync(outDir, { recursive: true });
  const wanted: TargetName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--all") wanted.push(...(Object.keys(TARGETS) as TargetName[]));
    else if (a === "--target") {
      const t = argv[++i] as TargetName;
      if (!(t in TARGETS)) throw new Error(`unknown target '${t}' (known: ${Object.keys(TARGETS).join(", ")})`);
      wanted.push(t);
    } else throw new Error(`unknown argument '${a}' (use --target NAME or --all)`);
  }
  const built: string[] = [];
  if (wanted.length === 0) {
    const out = join(outDir, "xen-guest-agent");
    compile(out, undefined);
    built.push(out);
  }
  for (const t of wanted) {
    const out = join(outDir, `xen-guest-agent-${t}`);
    compile(out, TARGETS[t]);
    built.push(out);
  }
  if (wanted.length > 0) {
    // Every release binary in dist/, not only those just built: building one target must not
    // drop the others' sums.
    const released = Object.keys(TARGETS).map((t) => join(outDir, `xen-guest-agent-${t}`)).filter((f) => existsSync(f));
    const sums = released.map((f) => `${sha256(f)}  ${basename(f)}`).join("\n");
    writeFileSync(join(outDir, "SHA256SUMS"), `${sums}\n`);
  }
  for (const f of built) console.log(`${basename(f).padEnd(36)} ${(statSync(f).size / 2 ** 20).toFixed(1)} MiB`);
  if (wanted.length > 0) console.log(`SHA256SUMS written to ${join("dist", "SHA256SUMS")}`);
  const runtimes = baselineRuntime(outDir);
  if (runtimes && !runtimes.distinct) {
    console.warn(`build: linux-x64-baseline embeds the same runtime as linux-x64 (build id ${runtimes.x64}): this Bun publishes one x64 runtime for both targets`);
  } else if (runtimes) {
    console.log(`linux-x64 runtime ${runtimes.x64}, linux-x64-baseline runtime ${runtimes.baseline}: distinct`);
  }
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`build: ${(e as Error).message}`);
    process.exit(1);
  }
}
