// The xenbus reader Worker inside a `bun build --compile` binary: it exists there only when
// native/xenbus-worker.ts is an extra entrypoint (as scripts/build.ts passes it), and then it is
// found from any working directory. Without it the binary falls back to ./native/… on the real
// filesystem relative to the cwd: works by accident in the repo, fails (or worse, runs someone
// else's file) anywhere else, which the second test pins down.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "xga-compiled-worker-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function build(entrypoints: string[], outfile: string): void {
  const r = Bun.spawnSync(
    [process.execPath, "build", "--compile", ...entrypoints, "--outfile", outfile, "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv"],
    { cwd: repo, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`bun build failed: ${r.stderr.toString()}`);
}

function runIn(cwd: string, binary: string): string {
  const r = Bun.spawnSync([binary], { cwd, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  return r.stdout.toString().trim();
}

test("with native/xenbus-worker.ts as an entrypoint the Worker runs, from any cwd", () => {
  const bin = join(work, "with-worker");
  build(["test/xenstore/fixtures/worker-entry.ts", "native/xenbus-worker.ts"], bin);
  expect(runIn(work, bin)).toBe("READ via worker: 42");
  expect(runIn("/", bin)).toBe("READ via worker: 42");
}, 30_000);

test("without it the binary has no Worker outside the repo", () => {
  const bin = join(work, "without-worker");
  build(["test/xenstore/fixtures/worker-entry.ts"], bin);
  expect(runIn(work, bin)).toContain("FAILED: device:/dev/xen/xenbus: reader worker failed");
}, 30_000);
