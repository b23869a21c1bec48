// Watching a file that only poll(2) can watch, with no thread of the main loop and no timer: a
// Worker (poll-worker.ts) blocks in poll() and posts when the file is ready. Used for
// /proc/<pid>/mountinfo, which signals "the mount table changed" with POLLPRI|POLLERR (proc(5):
// "/proc/[pid]/mounts ... a process can poll for changes"; fs/proc_namespace.c mounts_poll()).
// Bun's own epoll cannot be used for it: Bun.file(fd).stream() only polls sockets, FIFOs and ttys.
//
// Cost: one thread and about 3 MB RSS (bun-runtime.md §7), zero wake-ups while nothing changes.
// A compiled binary only contains the Worker if native/poll-worker.ts is a build entrypoint.
import { check, cstr, errnoName, libc, O_CLOEXEC, O_RDONLY, SystemError } from "./libc.ts";
import type { PollMessage } from "./poll-worker.ts";

export const POLLPRI = 0x2;
export const POLLERR = 0x8;
const EFD_CLOEXEC = 0x80000;
const EFD_NONBLOCK = 0x800;

export interface PollWatchHandlers {
  /** The file became ready (for mountinfo: the mount table changed since the last event). */
  event(revents: number): void;
  /** poll() failed; no further events will come. */
  error(err: SystemError): void;
}

export interface PollWatch {
  /** Resolves once the Worker is waiting in poll(): a change after this is seen. */
  readonly ready: Promise<void>;
  /** Ends the Worker and closes the fds. Idempotent. */
  stop(): void;
}

/**
 * Where the Worker's code is. From source, next to this file. In a compiled binary every module is
 * bundled into one and import.meta.url is the binary's `/$bunfs/root/<name>`; extra entrypoints sit
 * under `/$bunfs/root/` by their path relative to the entrypoints' common directory (the repo), and
 * a relative Worker path is resolved against that root (tried with Bun 1.4.5).
 */
function workerPath(): string {
  const here = new URL("./poll-worker.ts", import.meta.url);
  return here.pathname.startsWith("/$bunfs/") ? "./native/poll-worker.ts" : here.href;
}

/**
 * Opens `path` read-only now (so a change made after this call is reported even before the
 * Worker is running: for mountinfo the open records the table's generation) and watches it for
 * `events` (default POLLPRI). Throws SystemError when the file cannot be opened.
 */
export function watchPoll(path: string, on: PollWatchHandlers, events = POLLPRI): PollWatch {
  const c = libc();
  const fd = check(c.open(cstr(path), O_RDONLY | O_CLOEXEC, 0), `open(${path})`);
  let wakeFd: number;
  try {
    wakeFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  } catch (e) {
    c.close(fd);
    throw e;
  }
  let stopped = false;
  let closed = false;
  const closeFds = (): void => {
    if (closed) return;
    closed = true;
    c.close(fd);
    c.close(wakeFd);
  };
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let worker: Worker;
  try {
    worker = new Worker(workerPath());
  } catch (e) {
    closeFds();
    throw e;
  }
  worker.unref();
  worker.onmessage = (e: MessageEvent<PollMessage>) => {
    const m = e.data;
    switch (m.type) {
      case "ready":
        markReady();
        return;
      case "event":
        if (!stopped) on.event(m.revents);
        return;
      case "error":
        markReady();
        if (!stopped) on.error(new SystemError(`poll(${path})`, m.errno, errnoName(m.errno)));
        return;
      case "stopped":
        worker.terminate();
        closeFds();
        return;
    }
  };
  worker.onerror = (e) => {
    markReady();
    if (!stopped) on.error(new SystemError(`poll worker: ${e.message}`, 5));
  };
  worker.postMessage({ fd, wakeFd, events });
  return {
    ready,
    stop() {
      if (stopped) return;
      stopped = true;
      // Wake the Worker out of poll(); it answers "stopped" and the fds are closed then, not
      // before (closing an fd another thread polls lets its number be reused under it).
      const one = new BigUint64Array([1n]);
      if (Number(c.write(wakeFd, one, 8)) !== 8) {
        worker.terminate();
        closeFds();
      }
    },
  };
}
