// Waiting on file descriptors that Bun's epoll cannot watch (the xenbus device, a timerfd, a procfs
// file), with no timer, no pool thread and no wake-up while nothing happens. Bun.file(fd).stream()
// only polls sockets, FIFOs and ttys: on a character device it blocks the main thread in pread or
// fails with ESPIPE, and a thread-pool read pins one of Bun's two pool threads (bun-runtime.md §4).
//
// Two backends behind one interface, chosen once per process:
//  - threads (native/fd-thread.ts): one native thread per fd, compiled at run time by bun:ffi's
//    TinyCC; a few pages each. Proven by running it on x64, x64-baseline and arm64 (under
//    qemu-user, test/xenstore/compiled-watchers.test.ts) and in the e2e run on Xen;
//  - Worker (native/fd-worker-watch.ts): one JS Worker for every fd, about 2 MB of anonymous
//    memory more; used where cc() is unavailable or fails (the reason is in fdWatchBackend()).
//
// Why the Worker stays: the two musl targets cannot be run on the build machine (Bun's musl build
// needs a musl libstdc++ Debian does not ship), so the thread backend is unproven there, and TinyCC
// differs per target (on arm64 a struct copy once compiled to an unresolvable memmove call and
// every arm64 agent silently ran the Worker). A fallback that costs 2 MB beats an agent that
// cannot read xenbus. It is loaded only when the threads fail (require() below: the module, and
// the Worker, are never evaluated otherwise), and CI exercises it: test/xenstore/fd-watch.test.ts
// runs every watch mode on both backends, compiled-watchers.test.ts runs it in compiled binaries.
import { watchFdWithThread } from "./fd-thread.ts";
import { threadBackendAvailable } from "./thread-code.ts";
import { check, cstr, libc, O_CLOEXEC, O_RDONLY, POLLPRI, SystemError } from "./libc.ts";

export { POLLERR, POLLIN, POLLPRI } from "./libc.ts";

export interface FdWatchError {
  /** What failed: poll() or read() on the fd, or the watcher itself (a Worker that did not start). */
  call: "poll" | "read" | "watcher";
  code: string;
  errno: number;
  /** Watching goes on (the read() errno was in `continueOn`). */
  more: boolean;
  /** For `watcher`: what went wrong (a compiled binary without native/fd-worker.ts, say). */
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
  /** Bytes per read() (default and maximum 64 KiB); 0: the fd is not read, its revents are reported. */
  readSize?: number;
  /** errno names after which reading goes on (`ECANCELED` for a timerfd); others end the watch. */
  continueOn?: string[];
  /** The watching thread's name as `ps -T` and `top -H` show it (at most 15 bytes; threads backend). */
  name?: string;
}

/** A running watch. It keeps the process alive until it has ended or been stopped. */
export interface FdWatch {
  /**
   * Resolves once the fd is being polled (or the watch has ended): a change after this is seen.
   */
  readonly ready: Promise<void>;
  /**
   * Delivers nothing more, wakes the watcher out of poll() and closes the fd once the watcher has
   * let go of it (at once if the watch already ended); `released` runs after that. Closing earlier
   * could hand the fd number to a new file while it is still polled or read. Other watches are
   * not disturbed. Idempotent.
   */
  stop(released?: () => void): void;
}

export type FdWatchBackend = "threads" | "worker";

let chosen: { backend: FdWatchBackend; why?: string } | undefined;

/** Which backend this process uses and, for the Worker, why the threads could not run. */
export function fdWatchBackend(): { backend: FdWatchBackend; why?: string } {
  if (!chosen) {
    try {
      threadBackendAvailable();
      chosen = { backend: "threads" };
    } catch (e) {
      chosen = { backend: "worker", why: (e as Error).message };
    }
  }
  return chosen;
}

/** Tests: run the following watches on this backend (undefined: choose again as at start). */
export function useFdWatchBackend(backend: FdWatchBackend | undefined): void {
  chosen = backend && { backend, why: "chosen by the caller" };
}

/**
 * Watches `fd` (any pollable fd). On success the watch owns `fd`: stop() closes it. Throws (and
 * leaves `fd` to the caller) when no watcher can be started.
 */
export function watchFd(fd: number, on: FdWatchHandlers, opts: FdWatchOptions = {}): FdWatch {
  if (fdWatchBackend().backend === "threads") return watchFdWithThread(fd, on, opts);
  const { watchFdWithWorker } = require("./fd-worker-watch.ts") as typeof import("./fd-worker-watch.ts");
  return watchFdWithWorker(fd, on, opts);
}

/**
 * Opens `path` read-only now (so a change made after this call is reported even before the watch
 * is polling: for mountinfo the open records the table's generation) and reports when it becomes
 * ready for `events` (default POLLPRI) without reading it. For /proc/<pid>/mountinfo, which
 * signals "the mount table changed" with POLLPRI|POLLERR (proc(5): "/proc/[pid]/mounts ... a
 * process can poll for changes"; fs/proc_namespace.c mounts_poll()). Throws SystemError when the
 * file cannot be opened.
 */
export function watchFileEvents(
  path: string,
  on: { event(revents: number): void; error(err: SystemError): void },
  events = POLLPRI,
  name = "file-events",
): FdWatch {
  const fd = check(libc().open(cstr(path), O_RDONLY | O_CLOEXEC, 0), `open(${path})`);
  return watchFdEvents(fd, path, on, events, name);
}

/**
 * watchFileEvents() on a file the caller has opened (a host file opened inside `--root`,
 * non-blocking): the watch owns `fd` from here on, and closes it when it cannot start.
 */
export function watchFdEvents(
  fd: number,
  path: string,
  on: { event(revents: number): void; error(err: SystemError): void },
  events = POLLPRI,
  name = "file-events",
): FdWatch {
  try {
    return watchFd(fd, {
      event: (revents) => on.event(revents),
      error: (e) =>
        on.error(e.call === "watcher" ? new SystemError(`fd watcher: ${e.message}`, 5) : new SystemError(`${e.call}(${path})`, e.errno, e.code)),
    }, { events, readSize: 0, name });
  } catch (e) {
    libc().close(fd);
    throw e;
  }
}
