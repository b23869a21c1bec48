// The fd watchers (native/fd-watch.ts: xenbus reader, clock-jump timerfd, mountinfo watch) inside
// a `bun build --compile` binary, as scripts/build.ts builds it:
// - threads: the C source is embedded and compiled by bun:ffi's cc at run time, from any working
//   directory, without writing a file (cc's header directory under $TMPDIR is never created) and
//   in a root holding nothing but the binary and the C library it links (no libc.so, crt files or
//   headers: Talos, distroless images);
// - Worker (the fallback): it exists only when native/fd-worker.ts is an extra entrypoint, and is
//   then found from any working directory, ahead of a ./native/fd-worker.ts planted in the cwd.
//   Without it the binary falls back to ./native/… on the real filesystem relative to the cwd:
//   works by accident in the repo, fails (or worse, runs someone else's file) anywhere else, which
//   the last tests pin down.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chrootUnavailable, glibcRoot, inChroot } from "../install/support.ts";

const repo = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "xga-compiled-watchers-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function build(entrypoints: string[], outfile: string): void {
  const r = Bun.spawnSync(
    [process.execPath, "build", "--compile", ...entrypoints, "--outfile", outfile, "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv"],
    { cwd: repo, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`bun build failed: ${r.stderr.toString()}`);
}

function runIn(cwd: string, argv: string[], env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", timeout: 10_000, env: { ...process.env, ...env } });
  return r.stdout.toString().trim() + r.stderr.toString().trim();
}

/** A directory holding a ./native/fd-worker.ts that is not ours: it fails on purpose. */
function plantedDir(): string {
  const dir = join(work, "planted");
  mkdirSync(join(dir, "native"), { recursive: true });
  writeFileSync(join(dir, "native/fd-worker.ts"), 'throw new Error("planted worker ran");\n');
  return dir;
}

const asBuilt = join(work, "as-built");
const withoutWorker = join(work, "without-worker");
beforeAll(() => build(["test/xenstore/fixtures/watch-entry.ts", "native/fd-worker.ts"], asBuilt), 30_000);

test("threads: the embedded C source is compiled and read through, from any cwd", () => {
  expect(runIn(work, [asBuilt])).toBe("READ via threads: 42");
  expect(runIn("/", [asBuilt])).toBe("READ via threads: 42");
});

test("threads: no file is written (cc's header directory under TMPDIR is not created)", () => {
  const tmp = mkdtempSync(join(work, "tmpdir-"));
  expect(runIn(work, [asBuilt], { TMPDIR: tmp })).toBe("READ via threads: 42");
  expect(readdirSync(tmp)).toEqual([]);
});

const noChroot = chrootUnavailable();
if (noChroot) console.log(`skip: the minimal-root check needs a chroot: ${noChroot}`);

test.skipIf(noChroot !== undefined)("threads: works in a root with only the binary and its C library (no libc.so, headers or crt files)", () => {
  const root = join(work, "root");
  glibcRoot(root, [asBuilt]);
  copyFileSync(asBuilt, join(root, "agent"));
  Bun.spawnSync(["chmod", "755", join(root, "agent")]);
  const r = inChroot(root, ["/agent"]);
  expect(r.stdout.trim() + r.stderr.trim()).toBe("READ via threads: 42");
}, 30_000);

// arm64 (a release target) under qemu-user with Debian's cross libc, as test/install/binaries.test.ts
// runs it: TinyCC's arm64 code generator differs from x64's (a struct copy once made it call
// memmove, unresolved under -nostdlib, and every arm64 agent silently ran the Worker).
const qemuArm64 = Bun.which("qemu-aarch64-static") ?? Bun.which("qemu-aarch64");
const arm64Libc = "/usr/aarch64-linux-gnu";
const noArm64 = process.arch === "arm64" ? "this is arm64: the tests above cover it"
  : !qemuArm64 ? "no qemu-aarch64-static (Debian package qemu-user-static)"
  : !existsSync(join(arm64Libc, "lib/ld-linux-aarch64.so.1")) ? `no ${arm64Libc} C library (Debian package libc6-arm64-cross)`
  : undefined;
if (noArm64) console.log(`skip: the arm64 thread-backend check: ${noArm64}`);

test.skipIf(noArm64 !== undefined)("threads: an arm64 binary under qemu-user compiles and runs the thread backend, not the Worker", () => {
  const arm64 = join(work, "arm64");
  const r = Bun.spawnSync(
    [process.execPath, "build", "--compile", "test/xenstore/fixtures/watch-entry.ts", "native/fd-worker.ts", "--outfile", arm64, "--target=bun-linux-arm64",
      "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv"],
    { cwd: repo, stdout: "pipe", stderr: "pipe" },
  );
  expect(r.stderr.toString()).not.toContain("error");
  expect(runIn(work, [qemuArm64!, "-L", arm64Libc, arm64])).toBe("READ via threads: 42");
  expect(runIn(work, [qemuArm64!, "-L", arm64Libc, arm64, "worker"])).toBe("READ via worker: 42");
}, 120_000);

test("worker: with native/fd-worker.ts as an entrypoint the Worker runs, from any cwd", () => {
  expect(runIn(work, [asBuilt, "worker"])).toBe("READ via worker: 42");
  expect(runIn("/", [asBuilt, "worker"])).toBe("READ via worker: 42");
});

test("worker: the embedded Worker wins over a ./native/fd-worker.ts planted in the cwd", () => {
  expect(runIn(plantedDir(), [asBuilt, "worker"])).toBe("READ via worker: 42");
});

test("worker: without it the binary has no Worker outside the repo, and runs a planted one", () => {
  build(["test/xenstore/fixtures/watch-entry.ts"], withoutWorker);
  expect(runIn(work, [withoutWorker, "worker"])).toContain("FAILED: device:/dev/xen/xenbus: reader failed");
  expect(runIn(plantedDir(), [withoutWorker, "worker"])).toContain("planted worker ran");
}, 30_000);
