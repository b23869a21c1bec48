#!/usr/bin/env bun
// Builds a release from the repository: every file a release publishes, in one directory, with
// SHA256SUMS over all of them and, when the releaser gives a key, a detached signature of the sums.
//
//   npm run release -- [--out DIR] [--sign-key KEY] [--sign-with gpg|minisign] [--sign-passphrase-file FILE]
//
// DIR (default dist/release/v<version>) then holds, flat, what is uploaded as the release assets:
//   xen-guest-agent-linux-{x64,x64-baseline,arm64,x64-musl,arm64-musl}   scripts/build.ts --all
//   xen-guest-agent_<v>-<r>_{amd64,arm64}.deb, xen-guest-agent-<v>-<r>.{x86_64,aarch64}.rpm
//   xen-guest-agent-talos-<v>-{x86_64,aarch64}.tar                        the Talos extension trees
//   xen-guest-agent-container-<v>.tar       the container image's build context (Containerfile and
//                                           the two binaries it copies): `podman build` it
//   SHA256SUMS                              `sha256sum -c SHA256SUMS` checks every file above
//   SHA256SUMS.asc (gpg) or SHA256SUMS.minisig (minisign)   only with --sign-key
//
// Signing: the key stays with the releaser. `--sign-key` is a gpg key id or fingerprint (gpg
// --detach-sign --armor with --local-user) or, with `--sign-with minisign`, the path of a
// minisign secret key. Without --sign-key the sums are written unsigned and the command says so.
// A passphrase-protected gpg key: the passphrase comes from the environment variable
// RELEASE_SIGN_PASSPHRASE or from the first line of --sign-passphrase-file FILE, never from the
// command line (ps and shell histories show argv), and reaches gpg on its standard input
// (--pinentry-mode loopback --passphrase-fd 0), so no pinentry is needed in CI.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { BINARY_FOR, DIST, RELEASE, REPO, run, VERSION } from "./package/common.ts";
import { baselineRuntime, sha256, TARGETS } from "./build.ts";

export interface ReleaseOptions {
  out: string;
  signKey?: string;
  signWith: "gpg" | "minisign";
  /** File whose first line is the signing key's passphrase. */
  passphraseFile?: string;
}

/** The environment variable that may hold the signing key's passphrase. */
export const PASSPHRASE_ENV = "RELEASE_SIGN_PASSPHRASE";

/** The signing key's passphrase: --sign-passphrase-file's first line, else $RELEASE_SIGN_PASSPHRASE, else none. */
function signingPassphrase(o: Pick<ReleaseOptions, "passphraseFile">, env: Record<string, string | undefined>): string | undefined {
  if (o.passphraseFile !== undefined) return readFileSync(o.passphraseFile, "utf8").split("\n")[0];
  return env[PASSPHRASE_ENV] || undefined;
}

const bun = process.execPath;

function step(what: string, argv: string[]): void {
  const started = performance.now();
  run(argv, REPO);
  console.log(`${what.padEnd(28)} ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** The files a release publishes, as built into dist/ by the steps below. */
export function releaseFiles(): string[] {
  return [
    ...Object.keys(TARGETS).map((t) => `xen-guest-agent-${t}`),
    `xen-guest-agent_${VERSION}-${RELEASE}_amd64.deb`,
    `xen-guest-agent_${VERSION}-${RELEASE}_arm64.deb`,
    `xen-guest-agent-${VERSION}-${RELEASE}.x86_64.rpm`,
    `xen-guest-agent-${VERSION}-${RELEASE}.aarch64.rpm`,
    `xen-guest-agent-talos-${VERSION}-x86_64.tar`,
    `xen-guest-agent-talos-${VERSION}-aarch64.tar`,
    `xen-guest-agent-container-${VERSION}.tar`,
  ];
}

/** The image's build context: Containerfile at the top, beside the binaries its builder copies. */
function containerContext(): void {
  const stage = join(DIST, "container");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(join(REPO, "deploy/container/Containerfile"), join(stage, "Containerfile"));
  for (const file of Object.values(BINARY_FOR)) copyFileSync(join(DIST, file), join(stage, file));
  // Fixed owner and time so the same binaries give the same tar.
  run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${sourceDate()}`,
    "-cf", join(DIST, `xen-guest-agent-container-${VERSION}.tar`), "-C", stage, "."]);
}

/** SOURCE_DATE_EPOCH, else the last commit's time: what reproducible builds use for timestamps. */
function sourceDate(): number {
  if (process.env.SOURCE_DATE_EPOCH && /^\d+$/.test(process.env.SOURCE_DATE_EPOCH)) return Number(process.env.SOURCE_DATE_EPOCH);
  const t = Number(run(["git", "log", "-1", "--format=%ct"], REPO).trim());
  return Number.isSafeInteger(t) ? t : 0;
}

/** Signs SHA256SUMS; returns the signature's file name, or undefined (with the reason printed). */
export function sign(out: string, o: Pick<ReleaseOptions, "signKey" | "signWith" | "passphraseFile">, env: Record<string, string | undefined> = process.env): string | undefined {
  const sums = join(out, "SHA256SUMS");
  if (!o.signKey) {
    console.log("signature: skipped, no --sign-key given; SHA256SUMS is unsigned (see docs/release.md to sign)");
    return undefined;
  }
  const passphrase = signingPassphrase(o, env);
  if (o.signWith === "gpg") {
    const sig = `${sums}.asc`;
    const unlock = passphrase === undefined ? [] : ["--pinentry-mode", "loopback", "--passphrase-fd", "0"];
    run(["gpg", "--batch", "--yes", ...unlock, "--local-user", o.signKey, "--armor", "--detach-sign", "--output", sig, sums], undefined, { input: passphrase, env });
    run(["gpg", "--batch", "--verify", sig, sums], undefined, { env });
    return basename(sig);
  }
  if (passphrase !== undefined) throw new Error(`a passphrase (${PASSPHRASE_ENV} or --sign-passphrase-file) is supported for gpg keys only; use a passphrase-less minisign key (minisign -G -W)`);
  const sig = `${sums}.minisig`;
  run(["minisign", "-S", "-s", o.signKey, "-m", sums, "-x", sig], undefined, { env });
  return basename(sig);
}

export function release(o: ReleaseOptions): { out: string; files: string[]; signature?: string } {
  step("binaries (build.ts --all)", [bun, "scripts/build.ts", "--all"]);
  const runtimes = baselineRuntime(DIST);
  if (runtimes) console.log(`linux-x64-baseline runtime: ${runtimes.distinct ? "distinct from" : "the same as"} linux-x64 (build id ${runtimes.baseline})`);
  step(".deb x86_64,aarch64", [bun, "scripts/package/deb.ts", "--arch", "x86_64,aarch64"]);
  step(".rpm x86_64,aarch64", [bun, "scripts/package/rpm.ts", "--arch", "x86_64,aarch64"]);
  step("Talos x86_64,aarch64", [bun, "scripts/package/talos.ts", "--arch", "x86_64,aarch64"]);
  containerContext();
  console.log("container build context       done");

  const out = resolve(o.out);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = releaseFiles();
  for (const f of files) {
    if (!existsSync(join(DIST, f))) throw new Error(`${f} was not built`);
    copyFileSync(join(DIST, f), join(out, f));
  }
  writeFileSync(join(out, "SHA256SUMS"), files.map((f) => `${sha256(join(out, f))}  ${f}\n`).join(""));
  const signature = sign(out, o);
  console.log(`release ${VERSION}: ${readdirSync(out).length} files in ${out}`);
  return { out, files, signature };
}

export function parseArgs(argv: string[]): ReleaseOptions {
  const o: ReleaseOptions = { out: join(DIST, "release", `v${VERSION}`), signWith: "gpg" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--out") o.out = value();
    else if (a === "--sign-key") o.signKey = value();
    else if (a === "--sign-passphrase-file") o.passphraseFile = value();
    else if (a === "--sign-passphrase" || a === "--passphrase") throw new Error(`${a}: a passphrase is never taken from the command line (ps shows it); set ${PASSPHRASE_ENV} or use --sign-passphrase-file FILE`);
    else if (a === "--sign-with") {
      const w = value();
      if (w !== "gpg" && w !== "minisign") throw new Error(`--sign-with is gpg or minisign, not '${w}'`);
      o.signWith = w;
    } else throw new Error(`unknown argument '${a}' (use --out DIR, --sign-key KEY, --sign-with gpg|minisign, --sign-passphrase-file FILE)`);
  }
  return o;
}

if (import.meta.main) {
  try {
    release(parseArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    process.exit(1);
  }
}
