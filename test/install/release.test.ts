// Issue 17 #7: `npm run release` produces every file a release publishes, with sums that verify,
// a signature when given a key, and a clear skip without one; the CI workflow passes actionlint.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../scripts/build.ts";
import { PASSPHRASE_ENV, releaseFiles, sign } from "../../scripts/release.ts";
import { lintWorkflows, workflowFiles } from "../../scripts/release/lint-workflows.ts";
import { REPO, removeTree, tempDir } from "./support.ts";

const work = tempDir("release");
/** gpg homes made here: their agents are stopped before the directory goes. */
const gpgHomes: string[] = [];
afterAll(() => {
  gpgHomes.forEach(stopAgent);
  removeTree(work);
});

function release(args: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync([process.execPath, "scripts/release.ts", ...args], {
    cwd: REPO, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env },
  });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** Why the package builders cannot run here, or undefined. */
function unavailable(): string | undefined {
  for (const tool of ["dpkg-deb", "rpmbuild", "tar"]) if (!Bun.which(tool)) return `no ${tool}`;
  if (!readdirSync("/usr").includes("aarch64-linux-gnu")) return "no /usr/aarch64-linux-gnu (libc6-arm64-cross) for the aarch64 Talos tree";
  return undefined;
}

/**
 * A throw-away gpg home with a signing key protected by `passphrase` (none when empty); its
 * fingerprint. The agent is stopped afterwards, so the passphrase is not cached.
 */
function throwAwayKey(home: string, passphrase: string): string {
  Bun.spawnSync(["mkdir", "-m", "700", home]);
  gpgHomes.push(home);
  const env = { ...process.env, GNUPGHOME: home };
  const r = Bun.spawnSync(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0", "--quick-generate-key", "release-test@example.org", "ed25519", "sign", "1d"], {
    env, stdin: new TextEncoder().encode(passphrase), stdout: "pipe", stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`gpg key generation failed: ${r.stderr}`);
  stopAgent(home);
  const list = Bun.spawnSync(["gpg", "--batch", "--with-colons", "--list-secret-keys"], { env, stdout: "pipe" });
  return /^fpr:+([0-9A-F]+):/m.exec(list.stdout.toString())![1]!;
}

/** Stops the gpg agent of `home`: the next use asks for the passphrase again. */
function stopAgent(home: string): void {
  Bun.spawnSync(["gpgconf", "--kill", "gpg-agent"], { env: { ...process.env, GNUPGHOME: home } });
}

const PASSPHRASE = "correct horse battery staple";

describe("npm run release", () => {
  test("writes every release file, SHA256SUMS over all of them and a gpg signature that verifies (key with a passphrase)", () => {
    const why = unavailable();
    if (why) return console.log(`skipped: release: ${why}`);
    if (!Bun.which("gpg") || !Bun.which("gpgconf")) return console.log("skipped: release: no gpg/gpgconf to sign with");
    const home = join(work, "gnupg");
    const key = throwAwayKey(home, PASSPHRASE);
    const out = join(work, "signed");
    const r = release(["--out", out, "--sign-key", key], { GNUPGHOME: home, [PASSPHRASE_ENV]: PASSPHRASE });
    expect(r.out).toContain("release 1.0.0");
    expect(r.code).toBe(0);

    const files = releaseFiles();
    expect(files).toHaveLength(12);
    expect(readdirSync(out).sort()).toEqual([...files, "SHA256SUMS", "SHA256SUMS.asc"].sort());
    const sums = readFileSync(join(out, "SHA256SUMS"), "utf8").trimEnd().split("\n").map((l) => l.split("  "));
    expect(sums.map(([, f]) => f)).toEqual(files);
    for (const [sum, f] of sums) expect(sha256(join(out, f!))).toBe(sum!);
    // The same check users run.
    expect(Bun.spawnSync(["sha256sum", "-c", "--quiet", "SHA256SUMS"], { cwd: out }).exitCode).toBe(0);
    const verify = (dir: string) =>
      Bun.spawnSync(["gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS"], { cwd: dir, env: { ...process.env, GNUPGHOME: home }, stderr: "pipe" }).exitCode;
    expect(verify(out)).toBe(0);
    // A changed sum no longer verifies: the signature covers SHA256SUMS.
    writeFileSync(join(out, "SHA256SUMS"), readFileSync(join(out, "SHA256SUMS"), "utf8").replace(/^./, (c) => (c === "0" ? "1" : "0")));
    expect(verify(out)).not.toBe(0);

    // The container context holds what the Containerfile copies.
    const tar = Bun.spawnSync(["tar", "-tf", join(out, "xen-guest-agent-container-1.0.0.tar")], { stdout: "pipe" }).stdout.toString();
    for (const f of ["./Containerfile", "./xen-guest-agent-linux-x64-baseline", "./xen-guest-agent-linux-arm64"]) expect(tar.split("\n")).toContain(f);
  }, 600_000);

  test("without --sign-key says the sums are unsigned and writes no signature", () => {
    const out = join(work, "unsigned");
    Bun.spawnSync(["mkdir", "-p", out]);
    writeFileSync(join(out, "SHA256SUMS"), "");
    const said: string[] = [];
    const log = console.log;
    console.log = (line: string) => said.push(line);
    try {
      expect(sign(out, { signWith: "gpg" })).toBeUndefined();
    } finally {
      console.log = log;
    }
    expect(said.join("\n")).toContain("signature: skipped, no --sign-key given");
    expect(readdirSync(out)).toEqual(["SHA256SUMS"]);
  });

  test("refuses an unknown argument", () => {
    const r = release(["--sign", "x"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("unknown argument '--sign'");
  });
});

describe("signing SHA256SUMS with gpg", () => {
  const home = join(work, "gnupg-pass");
  const plainHome = join(work, "gnupg-plain");
  let key = "";
  let plainKey = "";
  const gpgWhy = Bun.which("gpg") && Bun.which("gpgconf") ? undefined : "no gpg/gpgconf";
  if (gpgWhy) console.log(`skipped: gpg signing: ${gpgWhy}`);

  beforeAll(() => {
    if (gpgWhy) return;
    key = throwAwayKey(home, PASSPHRASE);
    plainKey = throwAwayKey(plainHome, "");
  });

  /** Signs a one-line SHA256SUMS (gpg's agent restarted first, so no passphrase is cached) with `o.env` over this environment. */
  function signWith(name: string, o: { passphraseFile?: string; env?: Record<string, string>; plain?: boolean }) {
    const gnupg = o.plain ? plainHome : home;
    stopAgent(gnupg);
    const out = join(work, `pass-${name}`);
    Bun.spawnSync(["mkdir", "-p", out]);
    writeFileSync(join(out, "SHA256SUMS"), `${"0".repeat(64)}  xen-guest-agent-linux-x64\n`);
    const env = { ...process.env, GNUPGHOME: gnupg, ...o.env };
    const signature = sign(out, { signKey: o.plain ? plainKey : key, signWith: "gpg", passphraseFile: o.passphraseFile }, env);
    const verified = Bun.spawnSync(["gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS"], { cwd: out, env, stderr: "pipe" }).exitCode;
    return { signature, verified };
  }

  test.skipIf(gpgWhy !== undefined)("a key without a passphrase: signs with none given, and the signature verifies", () => {
    expect(signWith("plain", { plain: true })).toEqual({ signature: "SHA256SUMS.asc", verified: 0 });
  });

  test.skipIf(gpgWhy !== undefined)("the key really needs its passphrase: a wrong one fails, and the error does not show it", () => {
    let error = "";
    try {
      signWith("wrong", { env: { [PASSPHRASE_ENV]: "not the passphrase" } });
    } catch (e) {
      error = (e as Error).message;
    }
    expect(error).toContain("gpg --batch --yes --pinentry-mode loopback --passphrase-fd 0");
    expect(error).toContain("Bad passphrase");
    expect(error).not.toContain("not the passphrase");
  });

  test.skipIf(gpgWhy !== undefined)(`from ${PASSPHRASE_ENV}: signs, and the signature verifies`, () => {
    expect(signWith("env", { env: { [PASSPHRASE_ENV]: PASSPHRASE } })).toEqual({ signature: "SHA256SUMS.asc", verified: 0 });
  });

  test.skipIf(gpgWhy !== undefined)("from --sign-passphrase-file (first line): signs, and the signature verifies", () => {
    const file = join(work, "passphrase");
    writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    expect(signWith("file", { passphraseFile: file })).toEqual({ signature: "SHA256SUMS.asc", verified: 0 });
  });

  test("a passphrase on the command line is refused", () => {
    const r = release(["--sign-key", "x", "--sign-passphrase", "secret"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`a passphrase is never taken from the command line (ps shows it); set ${PASSPHRASE_ENV} or use --sign-passphrase-file FILE`);
  });
});

describe("release workflow", () => {
  test("passes actionlint, and a broken workflow does not", async () => {
    const linterModule = "actionlint";
    const installed = await import(linterModule).then(() => true, () => false);
    if (!installed) return console.log("skipped: release workflow: the actionlint devDependency is not installed (npm install)");
    expect(await lintWorkflows(workflowFiles())).toEqual([]);
    const broken = join(work, "broken.yml");
    writeFileSync(broken, readFileSync(join(REPO, ".github/workflows/release.yml"), "utf8").replace("${{ secrets.RELEASE_GPG_KEY_ID }}", "${{ secret.RELEASE_GPG_KEY_ID }}"));
    const findings = await lintWorkflows([broken]);
    expect(findings.map((f) => f.kind)).toContain("expression");
  });

  test("runs the release command on a version tag and publishes its directory", () => {
    const wf = readFileSync(join(REPO, ".github/workflows/release.yml"), "utf8");
    expect(wf).toMatch(/tags: \["v\*"\]/);
    expect(wf).toContain("npm run release -- --out release");
    expect(wf).toContain("files: release/*");
  });
});

describe("download addresses", () => {
  test("docs/install.md and docs/cloud-init.yaml use the release address pattern", () => {
    const pattern = "https://github.com/<owner>/xen-guest-agent/releases/download/v<version>/";
    expect(readFileSync(join(REPO, "docs/install.md"), "utf8")).toContain(pattern);
    expect(readFileSync(join(REPO, "docs/install.md"), "utf8")).toContain("https://github.com/$OWNER/xen-guest-agent/releases/download/v$VERSION");
    expect(readFileSync(join(REPO, "docs/cloud-init.yaml"), "utf8")).toContain('base="https://github.com/${owner}/xen-guest-agent/releases/download/v${version}"');
    for (const f of ["docs/install.md", "docs/cloud-init.yaml", "README.md"]) expect(readFileSync(join(REPO, f), "utf8")).not.toContain("releases.example.org");
  });
});
