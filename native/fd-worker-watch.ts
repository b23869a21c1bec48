// The Worker backend of native/fd-watch.ts, used where the thread backend (native/fd-thread.ts)
// cannot run (bun:ffi's cc unavailable): one Worker (native/fd-worker.ts) sleeps in a single
// poll() over every watched fd and posts what it reads, or only that an fd became ready.
//
// Cost: one thread and one more JS VM for all watches together (about 3 MB RSS, 2 MB of it
// anonymous), zero wake-ups while no fd has anything to say. The Worker starts with the first
// watch and is terminated when the last one has ended or been stopped.
//
// Adding or stopping a watch while the Worker sleeps: +1 on its wake eventfd (EFD_SEMAPHORE),
// then a message; the Worker leaves poll(), runs its message handlers (each takes one unit) and
// polls again over the new set (see native/fd-worker.ts for why nothing can be lost or reordered).
import { check, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, eventfdAdd, libc, POLLIN, SystemError } from "./libc.ts";
import type { FdWatch, FdWatchHandlers, FdWatchOptions } from "./fd-watch.ts";
import type { FdWorkerControl, FdWorkerMessage } from "./fd-worker.ts";

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
}

let shared: Shared | undefined;
let nextId = 1;

/** +1 on the wake fd, then the message (in this order: see native/fd-worker.ts). */
function send(s: Shared, m: FdWorkerControl): boolean {
  if (!eventfdAdd(s.wakeFd)) return false;
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
  if (s.entries.size === 0) shutdown(s);
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
    if (was && !e.stopping) e.on.error?.({ call: "watcher", code: "EWORKER", errno: 0, more: false, message });
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

/** The running Worker, or a new one. It keeps the process alive while it has watches. */
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
  const s: Shared = { worker, wakeFd, entries: new Map() };
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
export function watchFdWithWorker(fd: number, on: FdWatchHandlers, opts: FdWatchOptions = {}): FdWatch {
  const s = sharedWorker();
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const e: Entry = {
    id: nextId++, fd, on,
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
