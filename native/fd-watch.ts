// Waiting on a file descriptor that Bun's epoll cannot watch (the xenbus device, a timerfd, a
// procfs file), with no timer and no pool thread: a Worker (native/fd-worker.ts) sleeps in
// poll() on the fd and posts what it reads, or only that the fd became ready. Bun's own epoll
// cannot be used for these: Bun.file(fd).stream() only polls sockets, FIFOs and ttys.
//
// Cost: one thread and about 3 MB RSS per fd (bun-runtime.md §7), zero wake-ups while the fd has
// nothing to say.
import { check, cstr, libc, O_CLOEXEC, O_RDONLY, POLLIN, POLLPRI, SystemError } from "./libc.ts";
import type { FdWorkerMessage, FdWorkerStart } from "./fd-worker.ts";

export { POLLERR, POLLIN, POLLPRI } from "./libc.ts";
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
  /** The Worker keeps the process alive while it runs (default false: it is unref'd). */
  keepAlive?: boolean;
}

export interface FdWatch {
  /** Resolves once the Worker is waiting in poll() (or has failed): a change after this is seen. */
  readonly ready: Promise<void>;
  /**
   * Delivers nothing more, wakes the Worker out of poll() through the wake eventfd and closes the
   * fd once the Worker no longer touches it (at once if it already ended); `released` runs after
   * that. Closing earlier could hand the fd number to a new file while the Worker still reads
   * it. Idempotent.
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

/**
 * Starts a Worker watching `fd` (any pollable fd). On success the watch owns `fd`: stop() closes
 * it. Throws (and leaves `fd` to the caller) when the wake eventfd or the Worker cannot be made.
 */
export function watchFd(fd: number, on: FdWatchHandlers, opts: FdWatchOptions = {}): FdWatch {
  const c = libc();
  const wakeFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  let worker: Worker;
  try {
    worker = new Worker(fdWorkerSpecifier());
  } catch (e) {
    c.close(wakeFd);
    throw e;
  }
  if (!opts.keepAlive) worker.unref();
  let running = true; // the Worker may still touch fd
  let stopping = false; // stop() was called: deliver nothing more
  let released: (() => void) | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const release = (): void => {
    c.close(fd);
    released?.();
  };
  const exited = (): void => {
    if (!running) return;
    running = false;
    markReady();
    worker.terminate();
    c.close(wakeFd);
    if (stopping) release();
  };
  worker.onmessage = (ev: MessageEvent<FdWorkerMessage>) => {
    const m = ev.data;
    switch (m.kind) {
      case "ready":
        markReady();
        return;
      case "data":
        if (!stopping) on.data?.(new Uint8Array(m.bytes));
        return;
      case "event":
        if (!stopping) on.event?.(m.revents);
        return;
      case "error":
        if (!m.more) exited();
        if (!stopping) on.error?.({ call: m.call, code: m.code, errno: m.errno, more: m.more, message: `${m.call}: ${m.code}` });
        return;
      case "end":
        exited();
        if (!stopping) on.end?.();
        return;
      case "stopped":
        exited();
        return;
    }
  };
  worker.onerror = (ev) => {
    exited();
    if (!stopping) on.error?.({ call: "worker", code: "EWORKER", errno: 0, more: false, message: ev.message });
  };
  worker.postMessage({
    fd,
    wakeFd,
    events: opts.events ?? POLLIN,
    readSize: opts.readSize ?? 65536,
    continueOn: opts.continueOn ?? [],
  } satisfies FdWorkerStart);
  return {
    ready,
    stop(cb) {
      if (stopping) return;
      stopping = true;
      released = cb;
      if (!running) release();
      else if (Number(c.write(wakeFd, ONE, 8)) !== 8) exited(); // cannot wake it: terminate, release
    },
  };
}

/**
 * Opens `path` read-only now (so a change made after this call is reported even before the
 * Worker is running: for mountinfo the open records the table's generation) and reports when it
 * becomes ready for `events` (default POLLPRI) without reading it. For /proc/<pid>/mountinfo,
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
