// native/fd-watch.ts, on both backends: native threads (native/fd-thread.ts, one per fd) and the
// Worker (native/fd-worker-watch.ts, one for all fds). The xenbus reader, the clock-jump timerfd
// and the mountinfo watch are its users. Watches of both modes (read and deliver bytes; notify
// only) side by side, one stopped while the others go on, one added while another sleeps, end and
// error ending only their own watch, and (in a fresh process) the threads each backend starts and
// that go away with the watches.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { fstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  fdWatchBackend, POLLERR, POLLIN, POLLPRI, useFdWatchBackend, watchFd, watchFileEvents, type FdWatch, type FdWatchBackend,
  type FdWatchError,
} from "../../native/fd-watch.ts";
import { check, cstr, libc, O_CLOEXEC, O_RDONLY } from "../../native/libc.ts";
import { writeAll } from "../../native/unix-socket.ts";
import { socketPair } from "../support/native/test-libc.ts";

const c = libc();
const F_GETFD = 1;
const repo = resolve(import.meta.dir, "../..");
const mountOk = process.getuid?.() === 0 && Bun.spawnSync(["which", "mount"]).exitCode === 0;
if (!mountOk) console.log("skip: the mountinfo notify-only watch test needs root and mount(8)");

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.reverse()) f();
  cleanups = [];
});

function isOpen(fd: number): boolean {
  return c.fcntl(fd, F_GETFD, 0) >= 0;
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(2);
  }
}

/** A read-mode watch on one end of a socketpair; the peer end is closed after the test. */
function readWatch(opts: { keepPeer?: boolean } = {}) {
  const [ours, peer] = socketPair();
  const got: number[] = [];
  const errors: FdWatchError[] = [];
  let ended = false;
  const w = watchFd(ours, { data: (b) => got.push(...b), error: (e) => errors.push(e), end: () => (ended = true) });
  let peerOpen = true;
  const closePeer = () => {
    if (peerOpen) c.close(peer);
    peerOpen = false;
  };
  cleanups.push(() => {
    w.stop();
    if (!opts.keepPeer) closePeer();
  });
  return { fd: ours, peer, w, got, errors, ended: () => ended, closePeer };
}

/** A CLOCK_MONOTONIC timerfd that expires once after `ms`. */
function timerfd(ms: number): number {
  const fd = check(c.timerfd_create(1, O_CLOEXEC), "timerfd_create");
  check(c.timerfd_settime(fd, 0, new BigInt64Array([0n, 0n, 0n, BigInt(ms) * 1_000_000n]), null), "timerfd_settime");
  return fd;
}

for (const backend of ["threads", "worker"] as const) {
  describe(`${backend} backend`, () => {
    beforeAll(() => useFdWatchBackend(backend));

    describe("watches", () => {
      test("two read watches and a notify-only watch deliver independently", async () => {
        const a = readWatch();
        const t = timerfd(20);
        let expiries = 0;
        const tw = watchFd(t, { data: (b) => (expiries += b.length === 8 ? 1 : 0) }, { readSize: 8, continueOn: ["ECANCELED"] });
        cleanups.push(() => tw.stop());
        // Notify-only: the watcher does not read; the main thread drains the socket on each event.
        const [n, nPeer] = socketPair();
        cleanups.push(() => c.close(nPeer));
        const events: number[] = [];
        const nw = watchFd(n, {
          event: (revents) => {
            events.push(revents);
            c.recv(n, new Uint8Array(64), 64, 0x40); // MSG_DONTWAIT
          },
        }, { readSize: 0, events: POLLIN });
        cleanups.push(() => nw.stop());
        await Promise.all([a.w.ready, tw.ready, nw.ready]);
        writeAll(a.peer, new Uint8Array([1, 2, 3]));
        writeAll(nPeer, new Uint8Array([9]));
        await until(() => a.got.length === 3 && expiries === 1 && events.length > 0, "data, expiry and event");
        expect(a.got).toEqual([1, 2, 3]);
        expect(events.every((r) => (r & POLLIN) !== 0)).toBe(true);
        writeAll(a.peer, new Uint8Array([4]));
        await until(() => a.got.length === 4, "more data");
      });

      test("stopping one watch: the others keep delivering; its fd is closed only once the watcher let go", async () => {
        const a = readWatch();
        const b = readWatch();
        const [p0, p1] = (() => {
          const fds = new Int32Array(2);
          check(c.pipe2(fds, O_CLOEXEC), "pipe2");
          return [fds[0]!, fds[1]!];
        })();
        cleanups.push(() => c.close(p1));
        const pw = watchFd(p0, { event: () => {} }, { readSize: 0, events: POLLIN });
        cleanups.push(() => pw.stop());
        await Promise.all([a.w.ready, b.w.ready, pw.ready]);
        let releasedWhileOpen: boolean | undefined;
        a.w.stop(() => (releasedWhileOpen = isOpen(a.fd)));
        expect(isOpen(a.fd)).toBe(true); // not before the watcher let go
        await until(() => releasedWhileOpen !== undefined, "released");
        expect(releasedWhileOpen).toBe(false);
        writeAll(b.peer, new Uint8Array([7, 8]));
        await until(() => b.got.length === 2, "b still delivers");
        expect(b.got).toEqual([7, 8]);
        expect(a.got).toEqual([]);
        a.w.stop(); // idempotent
        expect(isOpen(p0)).toBe(true);
      });

      test("a watch added while another is blocked in poll() is served", async () => {
        const a = readWatch();
        await a.w.ready;
        await Bun.sleep(50); // a's watcher is asleep in poll()
        const b = readWatch();
        await b.w.ready;
        writeAll(b.peer, new Uint8Array([5]));
        await until(() => b.got.length === 1, "b delivers");
        writeAll(a.peer, new Uint8Array([6]));
        await until(() => a.got.length === 1, "a still delivers");
        expect([a.got, b.got]).toEqual([[6], [5]]);
      });

      test("end (read() == 0) and a read error end only their own watch", async () => {
        const a = readWatch({ keepPeer: true });
        const b = readWatch();
        const dir = mkdtempSync(join(tmpdir(), "xga-fdwatch-"));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        const dfd = check(c.open(cstr(dir), O_RDONLY | O_CLOEXEC, 0), "open(dir)");
        const derrors: FdWatchError[] = [];
        const dw = watchFd(dfd, { error: (e) => derrors.push(e) }); // poll says readable, read() is EISDIR
        await Promise.all([a.w.ready, b.w.ready, dw.ready]);
        a.closePeer();
        await until(() => a.ended() && derrors.length > 0, "end and error");
        expect(derrors).toEqual([{ call: "read", code: "EISDIR", errno: 21, more: false, message: "read: EISDIR" }]);
        writeAll(b.peer, new Uint8Array([1]));
        await until(() => b.got.length === 1, "b still delivers");
        // An ended watch's stop() closes the fd at once.
        let released = false;
        a.w.stop(() => (released = true));
        expect(released).toBe(true);
        expect(isOpen(a.fd)).toBe(false);
        dw.stop();
        expect(isOpen(dfd)).toBe(false);
      });

      test("a large stream arrives whole and in order (records split across reads)", async () => {
        const total = 300_000;
        const data = new Uint8Array(total).map((_, i) => (i * 7) & 0xff);
        const chunks: Uint8Array[] = [];
        const [ours, peer] = socketPair();
        const w = watchFd(ours, { data: (b) => chunks.push(b.slice()) });
        cleanups.push(() => {
          w.stop();
          c.close(peer);
        });
        await w.ready;
        for (let off = 0; off < total; off += 10_000) writeAll(peer, data.subarray(off, off + 10_000));
        await until(() => chunks.reduce((n, b) => n + b.length, 0) >= total, "all bytes", 5000);
        const got = new Uint8Array(total);
        let off = 0;
        for (const b of chunks) {
          got.set(b, off);
          off += b.length;
        }
        expect(off).toBe(total);
        expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
      });

      test("many watches added and stopped in a burst: all released, no fd left, the next one works", async () => {
        // Each watched fd by number and inode: after the release no fd may still be that socket
        // (counting /proc/self/fd would also count what the runtime opens meanwhile).
        const inode = (fd: number) => {
          try {
            return fstatSync(fd).ino;
          } catch {
            return undefined;
          }
        };
        let released = 0;
        const ws: { w: FdWatch; peer: number; ours: number; ino: number | bigint | undefined }[] = [];
        for (let i = 0; i < 40; i++) {
          const [ours, peer] = socketPair();
          ws.push({ w: watchFd(ours, {}), peer, ours, ino: inode(ours) });
          if (i % 3 === 0) ws[i >> 1]!.w.stop(() => released++);
        }
        for (const { w } of ws) w.stop(() => released++);
        await until(() => released === 40, "all released");
        expect(ws.filter(({ ours, ino }) => inode(ours) === ino).map(({ ours }) => ours)).toEqual([]);
        for (const { peer } of ws) c.close(peer);
        const a = readWatch();
        await a.w.ready;
        writeAll(a.peer, new Uint8Array([3]));
        await until(() => a.got.length === 1, "a fresh watch delivers");
      });
    });


    test.skipIf(!mountOk)("mountinfo POLLPRI (not read by the watcher) next to a read watch: a mount is reported", async () => {
      const target = mkdtempSync(join(tmpdir(), "xga-fdwatch-mnt-"));
      let mounted = false;
      cleanups.push(() => {
        if (mounted) Bun.spawnSync(["umount", target]);
        rmSync(target, { recursive: true, force: true });
      });
      const a = readWatch();
      let events = 0;
      const mw = watchFileEvents("/proc/self/mountinfo", { event: () => events++, error: (e) => { throw e; } }, POLLPRI | POLLERR);
      cleanups.push(() => mw.stop());
      await Promise.all([a.w.ready, mw.ready]);
      expect(events).toBe(0);
      expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "none", target]).exitCode).toBe(0);
      mounted = true;
      await until(() => events >= 1, "mount reported"); // (other processes' mounts may add more)
      writeAll(a.peer, new Uint8Array([1]));
      await until(() => a.got.length === 1, "a delivers");
    });
  });
}

const gcc = Bun.which("gcc");
if (!gcc) console.log("skip: checking native/fd-thread.c with gcc -Wall -Wextra needs gcc");

test.skipIf(!gcc)("native/fd-thread.c is warning-free ISO C11 without any header (gcc -nostdinc -Wall -Wextra -Werror)", () => {
  const r = Bun.spawnSync([gcc!, "-std=c11", "-nostdinc", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "native/fd-thread.c"], { cwd: repo, stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
});

test("threads is the backend here: bun:ffi's cc compiled the watcher", () => {
  useFdWatchBackend(undefined);
  expect(fdWatchBackend()).toEqual({ backend: "threads" });
});

/** Runs the fixture in a fresh process; per round, the thread names before, with and after the watches. */
function rounds(backend: FdWatchBackend): { before: string[]; during: string[]; after: string[] }[] {
  const r = Bun.spawnSync([process.execPath, "test/xenstore/fixtures/fd-watch-threads.ts", backend], { cwd: repo, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  expect(r.stderr.toString()).toBe("");
  return JSON.parse(r.stdout.toString());
}

// JSC starts a few threads of its own in the first round, and its garbage collector's thread
// ("Heap Collector Thread", the comm keeps the end) and a second JIT compiler thread
// ("JITWorker") come and go; apart from those the count is exact.
const steady = (names: string[]) => names.filter((n) => !n.endsWith("ollector Thread") && n !== "JITWorker").length;

test("threads backend: one named thread per watch, each gone with its watch (fresh process)", () => {
  const named = (names: string[]) => names.filter((n) => ["sock-watch", "timer-watch", "mountinfo"].includes(n)).sort();
  for (const { before, during, after } of rounds("threads")) {
    expect(named(before)).toEqual([]);
    expect(named(during)).toEqual(["mountinfo", "sock-watch", "timer-watch"]);
    expect(named(after)).toEqual([]);
  }
  for (const { before, during, after } of rounds("threads").slice(1)) {
    expect(steady(during)).toBe(steady(before) + 3);
    expect(steady(after)).toBe(steady(before));
  }
}, 30_000);

test("worker backend: one Worker thread for three watches of different modes; it ends with the last watch (fresh process)", () => {
  const all = rounds("worker");
  const workers = (names: string[]) => names.filter((n) => n === "Worker").length;
  for (const { before, during, after } of all) {
    expect(workers(before)).toBe(0);
    expect(workers(during)).toBe(1);
    expect(workers(after)).toBe(0);
  }
  for (const { before, during, after } of all.slice(1)) {
    expect(steady(during)).toBe(steady(before) + 1);
    expect(steady(after)).toBe(steady(before));
  }
}, 60_000);

test("the Worker backend's module is loaded only when it is used (fresh process)", () => {
  const script = (backend: string) => `
    import { useFdWatchBackend, watchFileEvents } from ${JSON.stringify(resolve(import.meta.dir, "../../native/fd-watch.ts"))};
    ${backend === "worker" ? 'useFdWatchBackend("worker");' : ""}
    const w = watchFileEvents("/proc/self/mountinfo", { event() {}, error() {} });
    await w.ready;
    console.log(Object.keys(require.cache).some((k) => k.endsWith("fd-worker-watch.ts")));
    w.stop();`;
  const loaded = (backend: string) => {
    const r = Bun.spawnSync([process.execPath, "-e", script(backend)], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    return r.stdout.toString().trim() + r.stderr.toString().trim();
  };
  expect(loaded("threads")).toBe("false");
  expect(loaded("worker")).toBe("true");
}, 30_000);
