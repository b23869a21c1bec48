// Waiting on file descriptors that Bun's epoll cannot watch (the xenbus device, a timerfd, a
// procfs file), with no timer and no pool thread: one Worker (native/fd-worker.ts) sleeps in a
// single poll() over every watched fd and posts what it reads, or only that an fd became ready.
// Bun's own epoll cannot be used for these: Bun.file(fd).stream() only polls sockets, FIFOs and
// ttys.
//
// Cost: one thread and about 3 MB RSS for all watches together (bun-runtime.md §7), zero wake-ups
// while no fd has anything to say. The Worker starts with the first watch and is terminated when
// the last one has ended or been stopped, so a process that watches nothing has no Worker.
//
// Adding or stopping a watch while the Worker sleeps: +1 on its wake eventfd (EFD_SEMAPHORE),
// then a message; the Worker leaves poll(), runs its message handlers (each takes one unit) and
// polls again over the new set (see native/fd-worker.ts for why nothing can be lost or reordered).
import { check, cstr, libc, O_CLOEXEC, O_RDONLY, POLLIN, POLLPRI, SystemError } from "./libc.ts";
import type { FdWorkerControl, FdWorkerMessage } from "./fd-worker.ts";

export { POLLERR, POLLIN, POLLPRI } from "./libc.ts";
const EFD_SEMAPHORE = 0x1;
const EFD_CLOEXEC = 0x80000;
const EFD_NONBLOCK = 0x800;
const ONE = new BigUint64Array([1n]);

export interface FdWatchError {
  /** What failed: the Worker's poll() or read(), or the Worker itself (then `code` is EWORKER). */
  call: "poll" | "read" | "worker";
  code: string;
  errno: number;
  /** The Worker goes on watching (the read() errno was in `continueOn`). */
  more: boolean;
  /** For `worker`: what Bun said (a compiled binary without native/fd-worker.ts, say). */
  message: string;
}

export interface FdWatchHandlers {
  /** Bytes read (a read() that returned n > 0); any chunking. */
  data?(chunk: Uint8Array): void;
  /** With `readSize: 0`: the fd became ready with these revents. */
  event?(revents: number): void;
  /** Unless `err.more`, nothing further will come. */
  error?(err: FdWatchError): void;
  /** read() returned 0; nothing further will come. */
  end?(): void;
}

export interface FdWatchOptions {
  /** poll() events to wait for (default POLLIN). */
  events?: number;
  /** Bytes per read() (default 64 KiB); 0: the Worker does not read, it reports the revents. */
  readSize?: number;
  /** errno names after which reading goes on (`ECANCELED` for a timerfd); others end the watch. */
  continueOn?: string[];
  /** The Worker keeps the process alive while this watch runs (default false). */
  keepAlive?: boolean;
}

export interface FdWatch {
  /**
   * Resolves once the Worker is waiting in poll() with this fd in its set (or the watch has
   * ended): a change after this is seen.
   */
  readonly ready: Promise<void>;
  /**
   * Delivers nothing more, wakes the Worker out of poll() through the wake eventfd, has it drop
   * the fd from its poll set, and closes the fd once the Worker has acknowledged (at once if the
   * watch already ended); `released` runs after that. Closing earlier could hand the fd number to
   * a new file while the Worker still polls or reads it. Other watches are not disturbed.
   * Idempotent.
   */
  stop(released?: () => void): void;
}

/**
 * Where the Worker's code is. In dev mode: the .ts file next to this module. In a
 * `bun build --compile` binary every module is bundled into one file whose import.meta.url is
 * the binary itself (`file:///$bunfs/root/<outfile>`); the worker exists there only if
 * native/fd-worker.ts was an extra entrypoint of the build, embedded as
 * `/$bunfs/root/native/fd-worker.js` (paths relative to the entrypoints' common root, the repo),
 * and the specifier `./native/fd-worker.ts` resolves to it from any cwd, ahead of a file of that
 * name in the cwd (measured with Bun 1.4.5; the module-relative URL does not).
 */
export function fdWorkerSpecifier(moduleUrl: string = import.meta.url): string {
  if (moduleUrl.startsWith("file:///$bunfs/")) return "./native/fd-worker.ts";
  return new URL("./fd-worker.ts", moduleUrl).href;
}

interface Entry {
  readonly id: number;
  readonly fd: number;
  readonly on: FdWatchHandlers;
  readonly keepAlive: boolean;
  /** The Worker may still touch fd (no "end", final "error" or "stopped" yet). */
  live: boolean;
  /** A "remove" was posted and its "stopped" has not come back. */
  removing: boolean;
  /** stop() was called: deliver nothing more. */
  stopping: boolean;
  released?: () => void;
  markReady(): void;
}

/** The one Worker, its wake eventfd and the watches it has not let go of yet. */
interface Shared {
  readonly worker: Worker;
  readonly wakeFd: number;
  readonly entries: Map<number, Entry>;
  ref: boolean;
}

let shared: Shared | undefined;
let nextId = 1;

/** +1 on the wake fd, then the message (in this order: see native/fd-worker.ts). */
function send(s: Shared, m: FdWorkerControl): boolean {
  if (Number(libc().write(s.wakeFd, ONE, 8)) !== 8) return false;
  s.worker.postMessage(m);
  return true;
}

function release(e: Entry): void {
  libc().close(e.fd);
  e.released?.();
}

/** The Worker no longer touches e.fd. */
function finished(e: Entry): void {
  if (!e.live) return;
  e.live = false;
  e.markReady();
  if (e.stopping) release(e);
}

/** Forgets a watch the Worker has let go of for good; the last one takes the Worker with it. */
function settle(s: Shared, e: Entry): void {
  if (e.live || e.removing) return;
  s.entries.delete(e.id);
  if (s.entries.size === 0) {
    shutdown(s);
    return;
  }
  const ref = [...s.entries.values()].some((x) => x.live && x.keepAlive);
  if (ref !== s.ref) {
    s.ref = ref;
    if (ref) s.worker.ref();
    else s.worker.unref();
  }
}

/** With no watch left the Worker is idle in its event loop (not in poll()): terminate() ends it. */
function shutdown(s: Shared): void {
  if (shared === s) shared = undefined;
  s.worker.onmessage = null;
  s.worker.onerror = null;
  s.worker.terminate();
  libc().close(s.wakeFd);
}

/** The Worker failed (or cannot be woken): every watch ends with `message`. */
function fail(s: Shared, message: string): void {
  if (shared === s) shared = undefined;
  const entries = [...s.entries.values()];
  s.entries.clear();
  shutdown(s);
  for (const e of entries) {
    const was = e.live;
    finished(e);
    if (was && !e.stopping) e.on.error?.({ call: "worker", code: "EWORKER", errno: 0, more: false, message });
  }
}

function onMessage(s: Shared, m: FdWorkerMessage): void {
  const e = s.entries.get(m.id);
  if (!e) return;
  switch (m.kind) {
    case "ready":
      e.markReady();
      return;
    case "data":
      if (!e.stopping) e.on.data?.(new Uint8Array(m.bytes));
      return;
    case "event":
      if (!e.stopping) e.on.event?.(m.revents);
      return;
    case "error":
      if (!m.more) finished(e);
      if (!e.stopping) e.on.error?.({ call: m.call, code: m.code, errno: m.errno, more: m.more, message: `${m.call}: ${m.code}` });
      break;
    case "end":
      finished(e);
      if (!e.stopping) e.on.end?.();
      break;
    case "stopped":
      e.removing = false;
      finished(e);
      break;
  }
  settle(s, e);
}

/** The running Worker, or a new one (unref'd until a keepAlive watch is added). */
function sharedWorker(): Shared {
  if (shared) return shared;
  const c = libc();
  const wakeFd = check(c.eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  let worker: Worker;
  try {
    worker = new Worker(fdWorkerSpecifier());
  } catch (e) {
    c.close(wakeFd);
    throw e;
  }
  worker.unref();
  const s: Shared = { worker, wakeFd, entries: new Map(), ref: false };
  worker.onmessage = (ev: MessageEvent<FdWorkerMessage>) => onMessage(s, ev.data);
  worker.onerror = (ev) => fail(s, ev.message);
  if (!send(s, { op: "init", wakeFd })) {
    shutdown(s);
    throw new SystemError("write(wake eventfd)", 0, "EWAKE");
  }
  shared = s;
  return s;
}

/**
 * Adds `fd` (any pollable fd) to the shared Worker's poll set, starting the Worker if none runs.
 * On success the watch owns `fd`: stop() closes it. Throws (and leaves `fd` to the caller) when
 * the wake eventfd or the Worker cannot be made.
 */
export function watchFd(fd: number, on: FdWatchHandlers, opts: FdWatchOptions = {}): FdWatch {
  const s = sharedWorker();
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const e: Entry = {
    id: nextId++, fd, on, keepAlive: opts.keepAlive ?? false,
    live: true, removing: false, stopping: false, markReady,
  };
  s.entries.set(e.id, e);
  const added = send(s, {
    op: "add",
    id: e.id,
    fd,
    events: opts.events ?? POLLIN,
    readSize: opts.readSize ?? 65536,
    continueOn: opts.continueOn ?? [],
  });
  if (!added) {
    s.entries.delete(e.id);
    if (s.entries.size === 0) shutdown(s);
    throw new SystemError("write(wake eventfd)", 0, "EWAKE");
  }
  if (e.keepAlive && !s.ref) {
    s.ref = true;
    s.worker.ref();
  }
  return {
    ready,
    stop(cb) {
      if (e.stopping) return;
      e.stopping = true;
      e.released = cb;
      if (!e.live) {
        release(e);
        return;
      }
      e.removing = true;
      if (!send(s, { op: "remove", id: e.id })) fail(s, "cannot wake the fd Worker"); // releases it
    },
  };
}

/**
 * Opens `path` read-only now (so a change made after this call is reported even before the
 * Worker is running: for mountinfo the open records the table's generation) and reports when it
 * becomes ready for `events` (default POLLPRI) without reading it (the shared Worker polls it). For /proc/<pid>/mountinfo,
 * which signals "the mount table changed" with POLLPRI|POLLERR (proc(5): "/proc/[pid]/mounts ...
 * a process can poll for changes"; fs/proc_namespace.c mounts_poll()). Throws SystemError when
 * the file cannot be opened.
 */
export function watchFileEvents(
  path: string,
  on: { event(revents: number): void; error(err: SystemError): void },
  events = POLLPRI,
): FdWatch {
  const c = libc();
  const fd = check(c.open(cstr(path), O_RDONLY | O_CLOEXEC, 0), `open(${path})`);
  try {
    return watchFd(fd, {
      event: (revents) => on.event(revents),
      error: (e) =>
        on.error(e.call === "worker" ? new SystemError(`poll worker: ${e.message}`, 5) : new SystemError(`${e.call}(${path})`, e.errno, e.code)),
    }, { events, readSize: 0 });
  } catch (e) {
    c.close(fd);
    throw e;
  }
}
