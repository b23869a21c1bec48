// The line a failing agent leaves behind reaches the journal at priority err: with stderr connected
// to the journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets it), every line
// of the fatal message carries the `<3>` prefix the journal's stream protocol reads; elsewhere the
// line stays plain. Run off Xen on a fixture root without a xenbus device: `run` exits 1.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, removeTree, tempDir } from "./support.ts";

const FIXTURE = join(REPO, "test/fixtures/root-container");
const dir = tempDir("journal");
afterAll(() => removeTree(dir));

/** Runs the agent with stderr on a file, as the journal's stream is; `journal` sets JOURNAL_STREAM to it. */
async function failingRun(args: string[], journal: boolean): Promise<{ code: number; stderr: string }> {
  const path = join(dir, `stderr-${args.join("_").replace(/\W/g, "")}-${journal}`);
  const fd = openSync(path, "w");
  const st = fstatSync(fd);
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  if (journal) env.JOURNAL_STREAM = `${st.dev}:${st.ino}`;
  const p = Bun.spawn([process.execPath, join(REPO, "src/main.ts"), ...args], { stdout: "ignore", stderr: fd, env });
  const code = await p.exited;
  closeSync(fd);
  return { code, stderr: readFileSync(path, "utf8") };
}

describe("the fatal line's journal priority", () => {
  test("cannot work here (exit 1): every line at err under the journal", async () => {
    const r = await failingRun(["run", "--root", FIXTURE, "--no-raise-freeze-timeout"], true);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    const fatal = lines.filter((l) => l.includes("xen-guest-agent: "));
    expect(fatal.length).toBe(1);
    expect(fatal[0]).toStartWith("<3>xen-guest-agent: ");
    for (const l of lines) expect(l).toMatch(/^<[0-7]>/); // nothing falls back to the journal's default (info)
  }, 20_000);

  test("bad configuration (exit 2): at err under the journal", async () => {
    const r = await failingRun(["run", "--schema", "nonsense"], true);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith("<3>xen-guest-agent: ");
  }, 20_000);

  test("not under the journal the line is plain", async () => {
    const r = await failingRun(["run", "--root", FIXTURE, "--no-raise-freeze-timeout"], false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("xen-guest-agent: ");
    expect(r.stderr).not.toMatch(/^<\d>/m);
  }, 20_000);
});
