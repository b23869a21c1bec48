// The five release binaries from `bun scripts/build.ts --all`: each is listed in SHA256SUMS, has the
// ELF shape its target promises, and runs `--version` and `collect --json --root <fixture>`:
// x64 natively, arm64 under qemu-user with Debian's cross libc, musl in a chroot holding the musl
// loader. A target that cannot run here is reported as `skipped: <target>: <reason>` and counted
// as skipped, never passed.
import { beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  DIST, REPO, TARGETS, chrootUnavailable, copyInto, devNull, inChroot, releaseBinary, removeTree, skipped, tempDir, type Target,
} from "./support.ts";

const FIXTURE = join(REPO, "test/fixtures/root-container");
const HOST_ARCH = process.arch === "arm64" ? "aarch64" : "x86_64";

function archOf(t: Target): "x86_64" | "aarch64" {
  return t.includes("arm64") ? "aarch64" : "x86_64";
}

interface Runner {
  /** Runs the binary with these arguments; the fixture is at `fixture` as the binary sees it. */
  run(args: string[]): { code: number; stdout: string; stderr: string };
  fixture: string;
  cleanup?(): void;
}

const MUSL_SYSROOT = process.env.MUSL_SYSROOT;

function spawn(argv: string[]) {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const qemu = (arch: string) => Bun.which(`qemu-${arch}-static`) ?? Bun.which(`qemu-${arch}`);
const crossLibc = (arch: string) => `/usr/${arch}-linux-gnu`;
const muslLoader = (arch: string) => `/lib/ld-musl-${arch}.so.1`;
const muslCxx = ["libstdc++.so.6", "libgcc_s.so.1"].map((lib) => join(MUSL_SYSROOT ?? "/nonexistent", "usr/lib", lib));

/** Why `target` cannot run on this machine, or undefined when it can. */
function unavailable(t: Target): string | undefined {
  const arch = archOf(t);
  if (!t.endsWith("-musl")) {
    if (arch === HOST_ARCH) return undefined;
    if (!qemu(arch)) return `no qemu-${arch}-static (Debian package qemu-user-static)`;
    if (!existsSync(join(crossLibc(arch), "lib/ld-linux-aarch64.so.1"))) return `no ${crossLibc(arch)} C library (Debian package libc6-arm64-cross)`;
    return undefined;
  }
  if (arch !== HOST_ARCH) return `the ${arch} musl loader is not installed here (and it would need qemu and a musl libstdc++ too)`;
  const loaderFrom = join(MUSL_SYSROOT ?? "/", muslLoader(arch));
  if (!existsSync(loaderFrom)) return `no ${loaderFrom} (Debian package musl)`;
  if (!muslCxx.every(existsSync))
    return "Bun's musl build links libstdc++.so.6 and libgcc_s.so.1 built for musl (Alpine's libstdc++ package) and Debian ships none; set MUSL_SYSROOT to an Alpine root with libstdc++ installed to run it";
  return chrootUnavailable();
}

/** Runs `target`: natively, under qemu-user with Debian's cross libc, or chrooted in a musl root. */
function runnerFor(t: Target, binary: string): Runner {
  const arch = archOf(t);
  if (!t.endsWith("-musl")) {
    if (arch === HOST_ARCH) return { run: (args) => spawn([binary, ...args]), fixture: FIXTURE };
    return { run: (args) => spawn([qemu(arch) as string, "-L", crossLibc(arch), binary, ...args]), fixture: FIXTURE };
  }
  // An Alpine-like root: the musl loader (which is also libc.musl-<arch>.so.1) and the C++ runtime.
  const root = tempDir(`musl-${arch}`);
  copyInto(root, realpathSync(join(MUSL_SYSROOT ?? "/", muslLoader(arch))), muslLoader(arch), 0o755);
  for (const lib of muslCxx) copyInto(root, realpathSync(lib), join("/usr/lib", lib.split("/").pop() as string), 0o755);
  copyInto(root, binary, "/xen-guest-agent", 0o755);
  cpSync(FIXTURE, join(root, "fixture"), { recursive: true });
  devNull(root);
  return { run: (args) => inChroot(root, ["/xen-guest-agent", ...args]), fixture: "/fixture", cleanup: () => removeTree(root) };
}

/** PT_INTERP and DT_NEEDED of an ELF file, from readelf. */
function elfShape(file: string): { interpreter: string; needed: string[] } {
  const r = Bun.spawnSync(["readelf", "-l", "-d", "-W", file], { stdout: "pipe" });
  const text = r.stdout.toString();
  return {
    interpreter: text.match(/Requesting program interpreter: ([^\]]+)\]/)?.[1] ?? "",
    needed: [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] as string).sort(),
  };
}

const EXPECTED_SHAPE: Record<Target, { interpreter: string; needed: string[] }> = {
  "linux-x64": { interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["ld-linux-x86-64.so.2", "libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0"] },
  "linux-x64-baseline": { interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["ld-linux-x86-64.so.2", "libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0"] },
  "linux-arm64": { interpreter: "/lib/ld-linux-aarch64.so.1", needed: ["ld-linux-aarch64.so.1", "libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0"] },
  // No libc.so.6: a musl binary needs only the loader plus Alpine's C++ runtime.
  "linux-x64-musl": { interpreter: "/lib/ld-musl-x86_64.so.1", needed: ["libc.musl-x86_64.so.1", "libstdc++.so.6"] },
  "linux-arm64-musl": { interpreter: "/lib/ld-musl-aarch64.so.1", needed: ["libc.musl-aarch64.so.1", "libstdc++.so.6"] },
};

const binaries = {} as Record<Target, string>;
beforeAll(async () => {
  for (const t of TARGETS) binaries[t] = await releaseBinary(t);
}, 300_000);

describe("release binaries", () => {
  test("SHA256SUMS lists every target with its sum; sizes", () => {
    const sums = new Map(
      readFileSync(join(DIST, "SHA256SUMS"), "utf8").trim().split("\n").map((l) => l.split(/\s+/).reverse() as [string, string]),
    );
    for (const t of TARGETS) {
      const file = binaries[t];
      expect(sums.get(`xen-guest-agent-${t}`)).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
      console.log(`${t.padEnd(20)} ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`);
    }
  });

  const readelf = Bun.which("readelf");
  if (!readelf) skipped("ELF interpreter and libraries", "readelf is not installed (Debian package binutils)");
  test.skipIf(!readelf)("each binary asks for the loader and libraries of its target", () => {
    for (const t of TARGETS) expect({ target: t, ...elfShape(binaries[t]) }).toEqual({ target: t, ...EXPECTED_SHAPE[t] });
  });

  for (const t of TARGETS) {
    // The runner is decided at load time so that a target that cannot run counts as skipped.
    const why = unavailable(t);
    if (why) skipped(t, why);
    test.skipIf(why !== undefined)(`${t}: --version, and collect --json --root <fixture> reports the fixture, not this machine`, () => {
      const runner = runnerFor(t, binaries[t]);
      try {
        const version = runner.run(["--version"]);
        expect(version.stderr).toBe("");
        expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
        const collected = runner.run(["collect", "--json", "--root", runner.fixture]);
        expect(collected.code).toBe(0);
        const { facts } = JSON.parse(collected.stdout);
        expect(facts.os).toMatchObject({ id: "fixturelinux", versionId: "7.3", kernelRelease: "6.1.0-fixture-amd64" });
        expect(facts.memory).toMatchObject({ totalKiB: 4028440 });
        expect(facts.host).toEqual({ hostName: "fixture-host", domain: "example.org" });
      } finally {
        runner.cleanup?.();
      }
    }, 60_000);
  }

  test("XEN_GUEST_AGENT_ROOT does what --root does (the container image sets it)", () => {
    const r = Bun.spawnSync([binaries[HOST_ARCH === "aarch64" ? "linux-arm64" : "linux-x64"], "collect", "--json"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, XEN_GUEST_AGENT_ROOT: FIXTURE } });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString()).facts.os.id).toBe("fixturelinux");
  });
});
