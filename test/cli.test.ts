// The command line as a user meets it: one clear line and the documented exit code.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const MAIN = join(import.meta.dir, "../src/main.ts");

async function cli(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

/** A host root that is not a Xen guest: os-release and procfs files, no hypervisor, no xenbus. */
function fixtureRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "xga-cli-"));
  mkdirSync(join(dir, "etc"), { recursive: true });
  mkdirSync(join(dir, "proc/sys/kernel"), { recursive: true });
  writeFileSync(join(dir, "etc/os-release"), 'ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n');
  writeFileSync(join(dir, "proc/meminfo"), "MemTotal: 1000 kB\nMemAvailable: 400 kB\n");
  writeFileSync(join(dir, "proc/sys/kernel/osrelease"), "6.6.7-fixture\n");
  writeFileSync(join(dir, "proc/sys/kernel/hostname"), "guest1.example.net\n");
  return dir;
}

describe("xen-guest-agent command line", () => {
  test("--version prints the package version", async () => {
    const r = await cli(["--version"]);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  test("--help lists every option with its default, without colours in a pipe", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    for (const flag of ["--stderr", "--loglevel", "--schema", "--publisher", "--root", "--memory-interval", "--config"]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain("(default: 60)");
    expect(r.stdout).toContain("collect");
    expect(r.stdout).toContain("Exit codes");
  });

  test("collect --help shows collect's own options", async () => {
    const r = await cli(["collect", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--json");
  });

  test.each([
    [["--bogus"], "unknown option '--bogus'"],
    [["run", "--memory-interval=abc"], "option --memory-interval: expected a number, got 'abc'"],
    [["--schema", "xml"], "option --schema: 'xml' is not one of std, rfc"],
    [["--root"], "option --root needs a value"],
    [["frobnicate"], "unknown command 'frobnicate'"],
    [["collect", "extra"], "unexpected argument 'extra'"],
  ])("%p is a usage error: one line, exit 2", async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });

  test("a bad XENSTORE_SCHEMA is a usage error naming the variable", async () => {
    const r = await cli(["collect"], { XENSTORE_SCHEMA: "bogus" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("environment variable XENSTORE_SCHEMA");
  });

  test("run off Xen with the xenstore publisher: exit 1, one line, suggests --publisher console", async () => {
    const r = await cli(["run", "--root", fixtureRoot(), "-s"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not a Xen guest");
    expect(r.stderr).toContain("--publisher console");
    expect(r.stderr).not.toContain("    at "); // no stack trace for an expected condition
  });

  test("collect --json --root reports the fixture, not this machine", async () => {
    const r = await cli(["collect", "--json", "--root", fixtureRoot(), "--no-volumes"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.facts.os).toMatchObject({ id: "alpine", versionId: "3.19.1", kernelRelease: "6.6.7-fixture" });
    expect(out.facts.memory).toEqual({ totalKiB: 1000, freeKiB: 400 });
    expect(out.facts.host).toEqual({ hostName: "guest1", domain: "example.net" });
    expect(out.keys["data/os_distro"]).toBe("alpine");
    expect(out.keys["data/os_minorver"]).toBe("19");
  });

  test("collect reads the configuration file as run does (schema = \"rfc\" in the file)", async () => {
    const root = fixtureRoot();
    writeFileSync(join(root, "config.toml"), 'schema = "rfc"\nmemory-interval = 30\n');
    const r = await cli(["collect", "--json", "--root", root, "--no-volumes", "--config", join(root, "config.toml")]);
    expect(r.code).toBe(0);
    const keys = JSON.parse(r.stdout).keys;
    expect(keys["data/os/unix/distro"]).toBe("alpine");
    expect(keys["data/os_distro"]).toBeUndefined();
  });

  test("XENSTORE_SCHEMA=rfc selects the rfc layout", async () => {
    const r = await cli(["collect", "--json", "--root", fixtureRoot(), "--no-volumes"], { XENSTORE_SCHEMA: "rfc" });
    expect(JSON.parse(r.stdout).keys["data/os/unix/distro"]).toBe("alpine");
  });
});
