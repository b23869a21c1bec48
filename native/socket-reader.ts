// Reading a socket fd (netlink, uevent, xenstored's Unix socket, the fd-watch threads' socketpairs)
// on the main thread, with no timer and no wake-up while it is quiet.
//
// Not through Bun's own reader alone: `Bun.file(fd).stream()` (Bun 1.4.5) can leave its one-shot
// epoll registration disarmed after a delivery while data waits in the socket. Seen as a guest's
// xenstore connection that stopped answering in about one run in ten of the fsfreeze keys test:
// the shim had written the replies, `ss` showed them in our receive queue, and
// /proc/self/fdinfo of Bun's epoll showed the socket's entry with no events armed; nothing more
// was read until the request timed out. For netlink, that would be a guest whose addresses are
// never published again.
//
// So by default (the thread backend) a native thread (fd_signal_thread in native/fd-thread.c)
// sleeps in poll() on the socket and, when it is readable, calls a thread-safe JSCallback; the
// JS thread then reads with recv(MSG_DONTWAIT) until EAGAIN (at most READS_PER_WAKE datagrams or
// chunks, then it lets the thread poll again) and writes an eventfd that lets the thread poll
// again. Level-triggered: a readiness cannot be lost. One thread per socket, asleep in poll()
// while nothing happens. Where the thread code cannot be compiled (native/thread-code.ts), the
// reader falls back to `Bun.file(fd).stream()`.
//
// A chunk is what one recv() returned: a datagram, or part of a stream; callers frame it themselves.
import { JSCallback, FFIType } from "bun:ffi";
import { addressOf, check, EFD_CLOEXEC, EFD_NONBLOCK, errno, errnoName, eventfdAdd, libc, MSG_DONTWAIT, POLLNVAL, pthreads, cstr } from "./libc.ts";
import { threadBackendAvailable, threadCode } from "./thread-code.ts";

export interface SocketReaderHandlers {
  data(chunk: Uint8Array): void;
  /** Return true to keep reading (ENOBUFS on netlink: the socket still works), false to stop. */
  error(err: { code: string; message: string }): boolean;
  /** The peer closed the connection (end of stream). */
  end(): void;
}

export interface SocketReader {
  /** Stops reading; nothing more is delivered. The caller still owns and closes `fd`. */
  stop(): void;
}

const READ_SIZE = 65536;
/** recv() calls per readiness before the thread polls again (other sockets get their turn). */
const READS_PER_WAKE = 16;
const EINTR = 4, EAGAIN = 11;

export function readSocket(fd: number, on: SocketReaderHandlers): SocketReader {
  try {
    threadBackendAvailable();
  } catch {
    return readWithBunStream(fd, on);
  }
  return readWithPollThread(fd, on, threadCode().signalEntry);
}

export interface SignalledSocketReader extends SocketReader {
  /** `void signal(int n)`, callable from any thread: n > 0 after it wrote, -1 as its last call. */
  readonly signal: bigint;
  /** The thread could not be started: nothing will call `signal`, so let it go. */
  discard(): void;
}

/**
 * Reads `fd`, a socket a native thread of ours writes (fd_watch_thread's socketpair), each time
 * that thread calls `signal(n)`: n > 0 after every write, so no readiness can be missed, and -1
 * as its very last action. The thread that writes is the one that signals: no second thread.
 */
export function readSocketWhenSignalled(fd: number, on: SocketReaderHandlers): SignalledSocketReader {
  const reads = recvLoop(fd, on);
  /** A drain is queued: the writer signals only when it writes again, so what is left is ours to read. */
  let queued = false;
  const drain = () => {
    if (reads.drain() !== "more" || queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      drain();
    });
  };
  const callback = threadCallback((n) => {
    if (n < 0) releaseCallback(callback);
    drain();
  });
  return {
    stop: reads.stop,
    signal: BigInt(callback.ptr ?? 0),
    discard() {
      reads.stop();
      releaseCallback(callback);
    },
  };
}

// --- the thread backends ---

/**
 * The thread-safe callback does not keep the event loop alive, so while any reader's thread runs
 * a timer does (it would fire once in 24.8 days, the longest delay a timer takes).
 */
let running = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

/** A thread-safe `void (int)` JSCallback that keeps the event loop alive until released. */
function threadCallback(fn: (n: number) => void): JSCallback {
  if (running++ === 0) keepAlive = setInterval(() => {}, 0x7fffffff);
  return new JSCallback(fn, { args: [FFIType.i32], returns: FFIType.void, threadsafe: true });
}

/** After the thread's last call: it touches the callback no more. */
function releaseCallback(callback: JSCallback): void {
  queueMicrotask(() => callback.close());
  if (--running === 0) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** What one wake-up read: the socket is empty ("drained"), maybe not ("more"), or reading has ended. */
type DrainResult = "drained" | "more" | "stopped";

/**
 * recv(MSG_DONTWAIT) on `fd` until EAGAIN, at most READS_PER_WAKE times, delivering each chunk;
 * the end of stream and errors go to the handlers, and a handler that ends reading stops it.
 */
function recvLoop(fd: number, on: SocketReaderHandlers): { drain(): DrainResult; stop(): void; readonly stopped: boolean } {
  const c = libc();
  const buf = new Uint8Array(READ_SIZE);
  let stopped = false;
  const stop = () => void (stopped = true);
  const deliver = (chunk: Uint8Array) => {
    try {
      on.data(chunk);
    } catch (e) {
      if (!on.error({ code: "EIO", message: (e as Error).message ?? String(e) })) stop();
    }
  };
  const drain = (): DrainResult => {
    for (let reads = 0; reads < READS_PER_WAKE; ) {
      if (stopped) return "stopped";
      const n = Number(c.recv(fd, buf, buf.length, MSG_DONTWAIT));
      if (n > 0) {
        reads++;
        deliver(buf.slice(0, n));
        continue;
      }
      if (n === 0) {
        stop();
        on.end();
        return "stopped";
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return "drained";
      reads++; // an error that repeats does not hold the thread here
      const code = errnoName(e);
      if (!on.error({ code, message: `recv: ${code}` })) stop();
    }
    return stopped ? "stopped" : "more";
  };
  return {
    drain,
    stop,
    get stopped() {
      return stopped;
    },
  };
}

/** fd_signal_thread polls `fd`; each readiness is read here, then the thread may poll again. */
function readWithPollThread(fd: number, on: SocketReaderHandlers, entry: bigint): SocketReader {
  const c = libc();
  const stopFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  let rearmFd = -1;
  try {
    rearmFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  } catch (e) {
    c.close(stopFd);
    throw e;
  }
  const reads = recvLoop(fd, on);
  /** Kept referenced until the thread has copied it (its first signal). */
  let ctx: BigInt64Array | undefined;
  let stopSent = false;
  const stop = () => {
    reads.stop();
    if (stopSent) return;
    stopSent = true;
    eventfdAdd(stopFd); // the thread leaves poll() and signals -1
  };
  const callback = threadCallback((revents) => {
    if (revents === 0) return void (ctx = undefined); // started: it has copied ctx
    if (revents < 0) {
      // The thread's last call: it touches nothing any more.
      c.close(stopFd);
      c.close(rearmFd);
      return releaseCallback(callback);
    }
    if (reads.stopped) return;
    if (revents & POLLNVAL) {
      stop();
      on.error({ code: "EBADF", message: "poll: EBADF (the socket was closed while it was read)" });
      return;
    }
    // "more" too: poll() is level-triggered, so the thread signals again at once.
    if (reads.drain() === "stopped") stop();
    else eventfdAdd(rearmFd);
  });
  ctx = new BigInt64Array([
    addressOf(c.poll), addressOf(c.read), BigInt(callback.ptr ?? 0), addressOf(c.__errno_location), BigInt(fd), BigInt(stopFd), BigInt(rearmFd),
  ]);
  const tid = new BigUint64Array(1);
  const rc = pthreads().pthread_create(tid, null, Number(entry) as never, ctx);
  if (rc !== 0) {
    releaseCallback(callback);
    c.close(stopFd);
    c.close(rearmFd);
    return readWithBunStream(fd, on);
  }
  pthreads().pthread_setname_np(tid[0]!, cstr("socket-read"));
  pthreads().pthread_detach(tid[0]!);
  return { stop };
}

// --- the fallback: Bun's reader ---

/**
 * `Bun.file(fd).stream()` registers a dup of the fd with Bun's own epoll and reads with
 * `recvfrom(MSG_DONTWAIT)`, with no wake-up while idle (bun-runtime.md §2, §4); it concatenates
 * datagrams into one chunk. On an error (ENOBUFS on netlink) the stream dies and a new one on the
 * same fd works. Subject to the lost re-arm described at the top.
 */
function readWithBunStream(fd: number, on: SocketReaderHandlers): SocketReader {
  let stopped = false;
  let current: { cancel(): Promise<void> } | undefined;
  const pump = async (): Promise<void> => {
    while (!stopped) {
      const reader = Bun.file(fd).stream().getReader();
      current = reader;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (stopped) return;
          if (done) {
            on.end();
            return;
          }
          on.data(value);
        }
      } catch (e) {
        if (stopped) return;
        const err = e as { code?: string; message?: string };
        if (!on.error({ code: err.code ?? "EIO", message: err.message ?? String(e) })) return;
      }
    }
  };
  void pump();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      current?.cancel().catch(() => {});
    },
  };
}
