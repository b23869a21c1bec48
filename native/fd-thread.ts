// The thread backend of native/fd-watch.ts: one native thread per watched fd, compiled at run time
// from native/fd-thread.c by Bun's TinyCC (bun:ffi `cc`). The thread sleeps in poll() on the fd and
// a stop eventfd and writes records (ready, data, event, end, error) to its end of a socketpair; the
// main thread reads the other end through Bun's own epoll (native/socket-reader.ts). No JS VM is
// started for it, unlike a Worker (about 2 MB of anonymous memory and 3 MB of RSS, measured in
// docs/performance.md), and nothing runs while the fd is quiet.
//
// Ownership: the thread closes only its end of the socketpair, as its last action, so the end of
// our stream means it no longer touches the fd or the stop eventfd; only then are they closed.
//
// The C code includes no header and calls libc only through pointers it is handed (`struct watch`),
// so TinyCC compiles it with -nostdlib: no libc.so, crt files or include directory is needed on
// the guest. The source reaches cc() as /proc/self/fd/N of a pipe: cc() wants a path, and the files
// embedded in a compiled binary are not paths it can open.
import { cc, FFIType } from "bun:ffi";
import source from "./fd-thread.c" with { type: "text" };
import type { FdWatch, FdWatchHandlers, FdWatchOptions } from "./fd-watch.ts";
import {
  addressOf, AF_UNIX, check, cstr, EFD_CLOEXEC, EFD_NONBLOCK, errno, errnoName, errnoNumber, eventfdAdd, libc, O_CLOEXEC, POLLIN,
  pthreads, SOCK_CLOEXEC, SOCK_STREAM, SystemError,
} from "./libc.ts";
import { readSocket, type SocketReader } from "./socket-reader.ts";

const HEADER = 8;
const READ_MAX = 65536;
const CONTINUE_SLOTS = 4;
/** enum in fd-thread.c */
const RECORD = { READY: 1, DATA: 2, EVENT: 3, END: 4, READ_ERROR: 5, POLL_ERROR: 6 } as const;
/**
 * Bun's cc() writes its bundled headers (stdbool.h, node_api.h…) into $TMPDIR/bun-cc-<uid>
 * before compiling, and skips that when the directory cannot be opened. The agent writes no files
 * and our source includes nothing, so TMPDIR points here for the compile.
 */
const NO_TMPDIR = "/proc/self/xen-guest-agent-no-tmpdir";

interface Compiled {
  /** Keeps TinyCC's code mapped: the threads run it for the life of the process. */
  readonly library: { close(): void };
  readonly entry: bigint;
}

let compiled: Compiled | undefined;

/**
 * Compiles fd-thread.c once. Throws when bun:ffi's cc is unavailable or fails (then
 * native/fd-watch.ts falls back to its Worker).
 */
function compile(): Compiled {
  if (compiled) return compiled;
  const c = libc();
  const readEnd = sourcePipe();
  const tmpdir = process.env.TMPDIR;
  // setenv here cannot free the array another thread may be reading in getenv(): the first
  // setenv of a name that was not set copies environ (the original stays on the stack), and this
  // runs once per process; unsetenv only moves entries within our copy.
  c.setenv(cstr("TMPDIR"), cstr(NO_TMPDIR), 1);
  try {
    const library = cc({
      source: `/proc/self/fd/${readEnd}`,
      flags: ["-nostdlib"],
      symbols: { fd_watch_thread: { args: [FFIType.ptr], returns: FFIType.ptr } },
    });
    compiled = { library, entry: addressOf(library.symbols.fd_watch_thread) };
    return compiled;
  } finally {
    c.close(readEnd);
    if (tmpdir === undefined) c.unsetenv(cstr("TMPDIR"));
    else c.setenv(cstr("TMPDIR"), cstr(tmpdir), 1);
  }
}

/** A pipe holding the whole C source, its write end closed: reading it to the end gives the file. */
function sourcePipe(): number {
  const c = libc();
  const text = Buffer.from(source, "utf8");
  if (text.length >= 65536) throw new Error("fd-thread.c does not fit in a pipe buffer"); // the write would block
  const pipe = new Int32Array(2);
  check(c.pipe2(pipe, O_CLOEXEC), "pipe2");
  const written = Number(c.write(pipe[1]!, text, text.length));
  c.close(pipe[1]!);
  if (written !== text.length) {
    c.close(pipe[0]!);
    throw new SystemError("write(source pipe)", errno());
  }
  return pipe[0]!;
}

/** Compiles the thread code now; throws with the reason when this backend cannot run here. */
export function threadBackendAvailable(): void {
  compile();
  pthreads();
}

/** struct watch in fd-thread.c: every field 8 bytes. */
function watchStruct(fd: number, stopFd: number, outFd: number, opts: Required<Omit<FdWatchOptions, "name">>): BigInt64Array {
  const c = libc();
  const continueOn = opts.continueOn.map((name) => {
    const n = errnoNumber(name);
    if (n === undefined) throw new Error(`unknown errno name ${name}`);
    return BigInt(n);
  });
  if (continueOn.length > CONTINUE_SLOTS) throw new Error(`at most ${CONTINUE_SLOTS} continueOn errno names`);
  return new BigInt64Array([
    addressOf(c.poll), addressOf(c.read), addressOf(c.send), addressOf(c.close), addressOf(c.__errno_location),
    BigInt(fd), BigInt(stopFd), BigInt(outFd), BigInt(opts.events), BigInt(Math.min(opts.readSize, READ_MAX)),
    ...continueOn, ...Array<bigint>(CONTINUE_SLOTS - continueOn.length).fill(0n),
  ]);
}

/** Splits the thread's byte stream into records (host byte order: little-endian on every Bun target); a record may arrive in pieces. */
class RecordReader {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly onRecord: (kind: number, value: number, payload: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.pending.length > 0) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let off = 0;
    while (buf.length - off >= HEADER) {
      const kind = view.getInt32(off, true);
      const value = view.getInt32(off + 4, true);
      const size = kind === RECORD.DATA ? value : 0;
      if (buf.length - off < HEADER + size) break;
      this.onRecord(kind, value, buf.subarray(off + HEADER, off + HEADER + size));
      off += HEADER + size;
    }
    this.pending = off === buf.length ? new Uint8Array(0) : buf.slice(off);
  }
}

/**
 * Starts a thread watching `fd`; on success the watch owns `fd`. Throws (leaving `fd` to the
 * caller) when the thread code cannot be compiled or the thread cannot be started.
 */
export function watchFdWithThread(fd: number, on: FdWatchHandlers, opts: FdWatchOptions = {}): FdWatch {
  const { entry } = compile();
  const c = libc();
  const pair = new Int32Array(2);
  check(c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), "socketpair");
  const [ours, theirs] = [pair[0]!, pair[1]!];
  const continueOn = opts.continueOn ?? [];
  let stopFd = -1;
  /** Kept referenced until the thread has copied it (its READY record). */
  let ctx: BigInt64Array | undefined;
  try {
    stopFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
    ctx = watchStruct(fd, stopFd, theirs, { events: opts.events ?? POLLIN, readSize: opts.readSize ?? READ_MAX, continueOn });
    const tid = new BigUint64Array(1);
    const rc = pthreads().pthread_create(tid, null, Number(entry) as never, ctx);
    if (rc !== 0) throw new SystemError("pthread_create", rc);
    pthreads().pthread_setname_np(tid[0]!, cstr((opts.name ?? "fd-watch").slice(0, 15)));
    pthreads().pthread_detach(tid[0]!);
  } catch (e) {
    c.close(ours);
    c.close(theirs);
    if (stopFd >= 0) c.close(stopFd);
    throw e;
  }

  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  /** The thread may still touch fd and stopFd (our stream has not ended). */
  let live = true;
  /** Handlers get nothing more: stop() was called, or reading the thread failed. */
  let silent = false;
  let stopCalled = false;
  let released: (() => void) | undefined;
  let reader: SocketReader | undefined;

  const record = (kind: number, value: number, payload: Uint8Array) => {
    if (kind === RECORD.READY) {
      ctx = undefined; // the thread has copied it
      markReady();
      return;
    }
    if (silent) return;
    switch (kind) {
      case RECORD.DATA:
        on.data?.(payload);
        return;
      case RECORD.EVENT:
        on.event?.(value);
        return;
      case RECORD.END:
        on.end?.();
        return;
      case RECORD.READ_ERROR: {
        const code = errnoName(value);
        on.error?.({ call: "read", code, errno: value, more: continueOn.includes(code), message: `read: ${code}` });
        return;
      }
      case RECORD.POLL_ERROR: {
        const code = errnoName(value);
        on.error?.({ call: "poll", code, errno: value, more: false, message: `poll: ${code}` });
        return;
      }
    }
  };
  const records = new RecordReader(record);
  const release = () => {
    c.close(fd);
    released?.();
  };
  /** Our stream ended: the thread is gone, and what it used can be closed. */
  const threadEnded = () => {
    if (!live) return;
    live = false;
    ctx = undefined;
    reader?.stop();
    c.close(ours);
    c.close(stopFd);
    markReady();
    if (stopCalled) release();
  };
  let streamErrors = 0;
  reader = readSocket(ours, {
    data: (chunk) => records.push(chunk),
    end: threadEnded,
    error: (err) => {
      // Not expected on a socketpair. Ask the thread to stop and read on for its end of stream;
      // a second failure leaves its fds open rather than closing them under a running thread.
      if (streamErrors++ > 0) return false;
      if (!silent) on.error?.({ call: "watcher", code: err.code, errno: 0, more: false, message: `reading the watch thread failed: ${err.message}` });
      silent = true;
      eventfdAdd(stopFd);
      return true;
    },
  });

  return {
    ready,
    stop(cb) {
      if (stopCalled) return;
      stopCalled = true;
      silent = true;
      released = cb;
      if (live) eventfdAdd(stopFd); // the thread leaves poll() and closes its end of the pair
      else release();
    },
  };
}
