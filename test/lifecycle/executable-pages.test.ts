// native/executable-pages.ts: which mappings are given back after start-up, and that it works on a
// real process (a fresh one: the test runner's own pages are left alone).
import { expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { executableRanges } from "../../native/executable-pages.ts";

const repo = resolve(import.meta.dir, "../..");

test("only the executable's private, non-writable mappings are chosen (paths with spaces too)", () => {
  const maps = [
    "00200000-01a40000 r--p 00000000 fd:01 42   /usr/sbin/xen guest agent",
    "01a40000-06849000 r-xp 01838000 fd:01 42   /usr/sbin/xen guest agent",
    "0684d000-0685e000 rw-p 06644000 fd:01 42   /usr/sbin/xen guest agent",
    "7f0000000000-7f0000100000 r-xp 00000000 fd:01 7   /usr/lib/x86_64-linux-gnu/libc.so.6",
    "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 ",
    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0   [stack]",
    "",
  ].join("\n");
  expect(executableRanges(maps, "/usr/sbin/xen guest agent")).toEqual([
    { start: 0x200000n, end: 0x1a40000n },
    { start: 0x1a40000n, end: 0x6849000n },
  ]);
  expect(executableRanges(maps, "/nowhere")).toEqual([]);
});

test("a fresh process gives back most of its executable's resident pages", () => {
  // Pages another process maps are kept (the kernel skips them), and the runner's bun maps its
  // own executable: the child runs from a copy of it.
  const dir = mkdtempSync(join(tmpdir(), "xga-pageout-"));
  const bun = join(dir, "bun");
  copyFileSync(process.execPath, bun);
  Bun.spawnSync(["chmod", "755", bun]);
  const script = `
    import { readFileSync } from "node:fs";
    import { pageOutExecutable } from "./native/executable-pages.ts";
    const exeKiB = () => {
      const exe = require("node:fs").readlinkSync("/proc/self/exe");
      let kib = 0, ours = false;
      for (const line of readFileSync("/proc/self/smaps", "utf8").split("\\n")) {
        if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) ours = line.endsWith(exe);
        else if (ours && line.startsWith("Rss:")) kib += Number(line.split(/\\s+/)[1]);
      }
      return kib;
    };
    const before = exeKiB();
    const r = pageOutExecutable();
    console.log(JSON.stringify({ before, after: exeKiB(), ...r }));
  `;
  const p = Bun.spawnSync([bun, "-e", script], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  rmSync(dir, { recursive: true, force: true });
  expect(p.stderr.toString()).toBe("");
  const r = JSON.parse(p.stdout.toString()) as { before: number; after: number; bytes: number; failure?: string };
  expect(r.failure).toBeUndefined();
  expect(r.bytes).toBeGreaterThan(0);
  expect(r.after).toBeLessThan(r.before / 2);
});
