// Reading a file descriptor that Bun's epoll cannot watch (a timerfd, a character device) with no
// timer and no pool thread: a Worker (fd-reader-worker.ts) blocks in read(2) and posts each result.
// One thread per fd; nothing runs while the fd has nothing to say.
import type { FdReadMessage, FdReadStart } from "./fd-reader-worker.ts";

export interface FdReaderHandlers {
  data?(chunk: Uint8Array): void;
  /** A failed read; `more` is true when the Worker keeps reading (the code was in `continueOn`). */
  error?(err: { code: string; errno: number; more: boolean }): void;
  end?(): void;
}

export interface FdReaderOptions {
  /** Bytes per read() (default 64 KiB). */
  size?: number;
  /** errno names after which reading goes on (`ECANCELED` for a timerfd); others end the reader. */
  continueOn?: string[];
}

export interface FdReader {
  /**
   * Stops reading. `wake` must make the blocked read() return (the caller knows how for its fd);
   * `closed` runs once the Worker has let go of the fd, and is where the caller closes it.
   */
  stop(wake: () => void, closed: () => void): void;
}

/** Where the Worker's code is: next to this file, or under the compiled binary's /$bunfs root. */
function workerPath(): string {
  const here = new URL("./fd-reader-worker.ts", import.meta.url);
  return here.pathname.startsWith("/$bunfs/") ? "./native/fd-reader-worker.ts" : here.href;
}

export function readFdInWorker(fd: number, on: FdReaderHandlers, opts: FdReaderOptions = {}): FdReader {
  const worker = new Worker(workerPath());
  const stopFlag = new SharedArrayBuffer(4);
  let stopped = false;
  let onClosed: (() => void) | undefined;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    worker.terminate();
    onClosed?.();
  };
  worker.onmessage = (event: MessageEvent<FdReadMessage>) => {
    const m = event.data;
    if (m.type === "stopped") return finish();
    if (stopped) return;
    if (m.type === "data") on.data?.(new Uint8Array(m.data));
    else if (m.type === "error") on.error?.({ code: m.code, errno: m.errno, more: m.more });
    else on.end?.();
  };
  worker.onerror = (event) => {
    if (!stopped) on.error?.({ code: "EWORKER", errno: 0, more: false });
    void event;
    finish();
  };
  worker.postMessage({ fd, size: opts.size ?? 65536, continueOn: opts.continueOn ?? [], stop: stopFlag } satisfies FdReadStart);
  // Blocked in read(), the Worker must not keep the process alive on its own.
  worker.unref();
  return {
    stop(wake, closed) {
      if (stopped) return;
      stopped = true;
      onClosed = closed;
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      wake();
    },
  };
}
