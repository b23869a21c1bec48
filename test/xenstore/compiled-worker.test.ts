// The fd Worker (native/fd-worker.ts: xenbus reader, clock-jump timerfd, mountinfo watch) inside a
// `bun build --compile` binary: it exists there only when native/fd-worker.ts is an extra
// entrypoint (as scripts/build.ts passes it), and then it is found from any working directory,
// and a ./native/fd-worker.ts planted in the cwd does not replace it. Without it the binary falls
// back to ./native/… on the real filesystem relative to the cwd: works by accident in the repo,
// fails (or worse, runs someone else's file) anywhere else, which the last tests pin down.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

/** A directory holding a ./native/fd-worker.ts that is not ours: it fails on purpose. */
function plantedDir(): string {
  const dir = join(work, "planted");
  mkdirSync(join(dir, "native"), { recursive: true });
  writeFileSync(join(dir, "native/fd-worker.ts"), 'throw new Error("planted worker ran");\n');
  return dir;
}

const withWorker = join(work, "with-worker");
const withoutWorker = join(work, "without-worker");

test("with native/fd-worker.ts as an entrypoint the Worker runs, from any cwd", () => {
  build(["test/xenstore/fixtures/worker-entry.ts", "native/fd-worker.ts"], withWorker);
  expect(runIn(work, withWorker)).toBe("READ via worker: 42");
  expect(runIn("/", withWorker)).toBe("READ via worker: 42");
}, 30_000);

test("the embedded Worker wins over a ./native/fd-worker.ts planted in the cwd", () => {
  expect(runIn(plantedDir(), withWorker)).toBe("READ via worker: 42");
});

test("without it the binary has no Worker outside the repo, and runs a planted one", () => {
  build(["test/xenstore/fixtures/worker-entry.ts"], withoutWorker);
  expect(runIn(work, withoutWorker)).toContain("FAILED: device:/dev/xen/xenbus: reader worker failed");
  expect(runIn(plantedDir(), withoutWorker)).toContain("planted worker ran");
}, 30_000);
