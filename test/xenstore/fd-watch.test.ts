// native/fd-watch.ts + native/fd-worker.ts: every watch shares one Worker thread asleep in one
// poll() (the xenbus reader, the clock-jump timerfd and the mountinfo watch are its users).
// Watches of both modes (read and post bytes; notify only) side by side, one stopped while the
// others go on, one added while the Worker sleeps, end and error ending only their own watch, and
// (in a fresh process) one thread for all of them that goes away with the last watch.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { POLLERR, POLLIN, POLLPRI, watchFd, watchFileEvents, type FdWatch, type FdWatchError } from "../../native/fd-watch.ts";
import { check, cstr, libc, O_CLOEXEC, O_RDONLY } from "../../native/libc.ts";
import { socketPair, writeAll } from "../../native/unix-socket.ts";

const c = libc();
const F_GETFD = 1;
const repo = resolve(import.meta.dir, "../..");

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

describe("watches sharing one Worker", () => {
  test("two read watches and a notify-only watch deliver independently", async () => {
    const a = readWatch();
    const t = timerfd(20);
    let expiries = 0;
    const tw = watchFd(t, { data: (b) => (expiries += b.length === 8 ? 1 : 0) }, { readSize: 8, continueOn: ["ECANCELED"] });
    cleanups.push(() => tw.stop());
    // Notify-only: the Worker does not read; the main thread drains the socket on each event.
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

  test("stopping one watch: the others keep delivering; its fd is closed only once the Worker let go", async () => {
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
    expect(isOpen(a.fd)).toBe(true); // not before the Worker's "stopped"
    await until(() => releasedWhileOpen !== undefined, "released");
    expect(releasedWhileOpen).toBe(false);
    writeAll(b.peer, new Uint8Array([7, 8]));
    await until(() => b.got.length === 2, "b still delivers");
    expect(b.got).toEqual([7, 8]);
    expect(a.got).toEqual([]);
    a.w.stop(); // idempotent
    expect(isOpen(p0)).toBe(true);
  });

  test("a watch added while the Worker is blocked in poll() is served", async () => {
    const a = readWatch();
    await a.w.ready;
    await Bun.sleep(50); // the Worker is asleep in poll() over [a, wake]
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

  test("many watches added and stopped in a burst: all released, no fd left, the next one works", async () => {
    const fdCount = () => readdirSync("/proc/self/fd").length;
    const before = fdCount();
    let released = 0;
    const ws: { w: FdWatch; peer: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const [ours, peer] = socketPair();
      ws.push({ w: watchFd(ours, {}), peer });
      if (i % 3 === 0) ws[i >> 1]!.w.stop(() => released++);
    }
    for (const { w } of ws) w.stop(() => released++);
    await until(() => released === 40, "all released");
    for (const { peer } of ws) c.close(peer);
    expect(fdCount()).toBeLessThanOrEqual(before);
    const a = readWatch();
    await a.w.ready;
    writeAll(a.peer, new Uint8Array([3]));
    await until(() => a.got.length === 1, "a fresh watch delivers");
  });
});

const mountOk = process.getuid?.() === 0 && Bun.spawnSync(["which", "mount"]).exitCode === 0;
if (!mountOk) console.log("skip: the mountinfo notify-only watch test needs root and mount(8)");

test.skipIf(!mountOk)("mountinfo POLLPRI (not read by the Worker) next to a read watch: a mount is reported", async () => {
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

test("one Worker thread for three watches of different modes; it ends with the last watch (fresh process)", () => {
  const r = Bun.spawnSync([process.execPath, "test/xenstore/fixtures/fd-watch-threads.ts"], { cwd: repo, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  expect(r.stderr.toString()).toBe("");
  const rounds = JSON.parse(r.stdout.toString()) as { before: string[]; during: string[]; after: string[] }[];
  const workers = (names: string[]) => names.filter((n) => n === "Worker").length;
  for (const { before, during, after } of rounds) {
    expect(workers(before)).toBe(0);
    expect(workers(during)).toBe(1);
    expect(workers(after)).toBe(0);
  }
  // JSC starts a few threads of its own in the first round, and its garbage collector's thread
  // ("Heap Collector Thread", the comm keeps the end) comes and goes; apart from those the count
  // is exact: one more with the watches, back to the pre-watch count without them.
  const steady = (names: string[]) => names.filter((n) => !n.endsWith("ollector Thread")).length;
  for (const { before, during, after } of rounds.slice(1)) {
    expect(steady(during)).toBe(steady(before) + 1);
    expect(steady(after)).toBe(steady(before));
  }
}, 30_000);
