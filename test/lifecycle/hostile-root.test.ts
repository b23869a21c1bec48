// `collect` and `run` as real processes against a fixture root whose etc/os-release and
// proc/1/mountinfo are FIFOs (no writer ever comes) and whose etc/hostname is a 200 MB file. Before host reads opened non-blocking, `collect` hung
// for good and `run` ignored SIGTERM: every child here is killed after a deadline, so a
// regression fails the test instead of hanging the suite.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { mkdirSync, rmSync, truncateSync } from "node:fs";
import { FixtureRoot } from "./support.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const DEADLINE_MS = 15_000;

const root = new FixtureRoot({ "etc/hostname": "" });
afterAll(() => root.remove());
for (const rel of ["etc/os-release", "proc/1/mountinfo"]) {
  rmSync(join(root.dir, rel), { force: true });
  mkdirSync(join(root.dir, rel, ".."), { recursive: true });
  const r = Bun.spawnSync(["mkfifo", join(root.dir, rel)]);
  if (r.exitCode !== 0) throw new Error(`mkfifo ${rel}: ${r.stderr.toString()}`);
}
truncateSync(join(root.dir, "etc/hostname"), 200 << 20);

const live = new Set<Bun.Subprocess>();
afterEach(() => {
  for (const p of live) p.kill("SIGKILL");
  live.clear();
});

function spawn(args: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1" },
  });
  live.add(p);
  return p;
}

/** The exit code, or "hung" when the child had to be killed at the deadline. */
async function exitWithin(p: Bun.Subprocess, ms: number): Promise<number | "hung"> {
  const timer = setTimeout(() => p.kill("SIGKILL"), ms);
  const code = await p.exited;
  clearTimeout(timer);
  live.delete(p);
  return p.signalCode === "SIGKILL" ? "hung" : code;
}

describe("a hostile root (FIFOs, a 200 MB file)", () => {
  test("collect finishes and reports what it could read", async () => {
    const p = spawn(["collect", "--json", "--root", root.dir]);
    expect(await exitWithin(p, DEADLINE_MS)).toBe(0);
    const out = JSON.parse(await new Response(p.stdout).text());
    expect(out.facts.os.id).toBe("linux");
    expect(out.facts.memory).toEqual({ totalKiB: 2048000, freeKiB: 1024000 });
  });

  test("run starts, and SIGTERM stops it with exit 0", async () => {
    const p = spawn(["run", "--publisher", "console", "-s", "--root", root.dir]);
    const stderr = p.stderr.getReader();
    let text = "";
    const started = (async () => {
      while (!text.includes("publishing to console")) {
        const { value, done } = await stderr.read();
        if (done) return false;
        text += new TextDecoder().decode(value);
      }
      return true;
    })();
    const timer = setTimeout(() => p.kill("SIGKILL"), DEADLINE_MS);
    expect(await started).toBe(true);
    clearTimeout(timer);
    p.kill("SIGTERM");
    expect(await exitWithin(p, DEADLINE_MS)).toBe(0);
    expect(text).toContain("not a regular file");
  });
});
