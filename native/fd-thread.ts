// The thread backend of native/fd-watch.ts: one native thread per watched fd, compiled at run time
// from native/fd-thread.c by Bun's TinyCC (bun:ffi `cc`). The thread sleeps in poll() on the fd and
// a stop eventfd, writes records (ready, data, event, end, error) to its end of a socketpair and,
// after each, calls a thread-safe callback on which the main thread reads the other end
// (native/socket-reader.ts, readSocketWhenSignalled): one thread per watch. No JS VM is
// started for it, unlike a Worker (about 2 MB of anonymous memory and 3 MB of RSS, measured in
// docs/performance.md), and nothing runs while the fd is quiet.
//
// Ownership: the thread closes only its end of the socketpair, once it no longer touches the fd or
// the stop eventfd, so the end of our stream lets us close them; its last call is signal(-1).
// The code is compiled by native/thread-code.ts.
import type { FdWatch, FdWatchHandlers, FdWatchOptions } from "./fd-watch.ts";
import {
  addressOf, AF_UNIX, check, cstr, EFD_CLOEXEC, EFD_NONBLOCK, errnoName, errnoNumber, eventfdAdd, libc, POLLIN, pthreads,
  SOCK_CLOEXEC, SOCK_STREAM, SystemError,
} from "./libc.ts";
import { readSocketWhenSignalled } from "./socket-reader.ts";
import { threadCode } from "./thread-code.ts";

const HEADER = 8;
const READ_MAX = 65536;
const CONTINUE_SLOTS = 4;
/** enum in fd-thread.c */
const RECORD = { READY: 1, DATA: 2, EVENT: 3, END: 4, READ_ERROR: 5, POLL_ERROR: 6 } as const;
/** struct watch in fd-thread.c: every field 8 bytes. */
function watchStruct(fd: number, stopFd: number, outFd: number, signal: bigint, opts: Required<Omit<FdWatchOptions, "name">>): BigInt64Array {
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
    ...continueOn, ...Array<bigint>(CONTINUE_SLOTS - continueOn.length).fill(0n), signal,
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
  const entry = threadCode().watchEntry;
  const c = libc();
  const pair = new Int32Array(2);
  check(c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), "socketpair");
  const [ours, theirs] = [pair[0]!, pair[1]!];
  const continueOn = opts.continueOn ?? [];
  let stopFd = -1;
  try {
    stopFd = check(c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
  } catch (e) {
    c.close(ours);
    c.close(theirs);
    throw e;
  }

  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  /** Kept referenced until the thread has copied it (its READY record). */
  let ctx: BigInt64Array | undefined;
  /** The thread may still touch fd and stopFd (our stream has not ended). */
  let live = true;
  /** Handlers get nothing more: stop() was called, or reading the thread failed. */
  let silent = false;
  let stopCalled = false;
  let released: (() => void) | undefined;

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
  /** Our stream ended: the thread no longer touches fd or stopFd, which can be closed. */
  const threadEnded = () => {
    if (!live) return;
    live = false;
    ctx = undefined;
    reader.stop();
    c.close(ours);
    c.close(stopFd);
    markReady();
    if (stopCalled) release();
  };
  let streamErrors = 0;
  const reader = readSocketWhenSignalled(ours, {
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

  try {
    ctx = watchStruct(fd, stopFd, theirs, reader.signal, { events: opts.events ?? POLLIN, readSize: opts.readSize ?? READ_MAX, continueOn });
    const tid = new BigUint64Array(1);
    const rc = pthreads().pthread_create(tid, null, Number(entry) as never, ctx);
    if (rc !== 0) throw new SystemError("pthread_create", rc);
    pthreads().pthread_setname_np(tid[0]!, cstr((opts.name ?? "fd-watch").slice(0, 15)));
    pthreads().pthread_detach(tid[0]!);
  } catch (e) {
    reader.discard();
    c.close(ours);
    c.close(theirs);
    c.close(stopFd);
    throw e;
  }

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
