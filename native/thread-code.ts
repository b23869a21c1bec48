// The native threads' code (native/fd-thread.c), compiled once per process at run time by Bun's
// TinyCC (bun:ffi `cc`), for native/fd-thread.ts (fd watches) and native/socket-reader.ts (socket
// readiness).
//
// The C code includes no header and calls libc only through pointers it is handed, so TinyCC
// compiles it with -nostdlib: no libc.so, crt files or include directory is needed on the guest.
// The source reaches cc() as /proc/self/fd/N of a pipe: cc() wants a path, and the files embedded
// in a compiled binary are not paths it can open.
import { cc, FFIType } from "bun:ffi";
import source from "./fd-thread.c" with { type: "text" };
import { addressOf, check, cstr, errno, libc, O_CLOEXEC, pthreads, SystemError } from "./libc.ts";

/**
 * Bun's cc() writes its bundled headers (stdbool.h, node_api.h…) into $TMPDIR/bun-cc-<uid>
 * before compiling, and skips that when the directory cannot be opened. The agent writes no files
 * and our source includes nothing, so TMPDIR points here for the compile.
 */
const NO_TMPDIR = "/proc/self/xen-guest-agent-no-tmpdir";

export interface ThreadCode {
  /** Keeps TinyCC's code mapped: the threads run it for the life of the process. */
  readonly library: { close(): void };
  /** fd_watch_thread (native/fd-thread.ts). */
  readonly watchEntry: bigint;
  /** fd_signal_thread (native/socket-reader.ts). */
  readonly signalEntry: bigint;
}

let compiled: ThreadCode | undefined;

/**
 * Compiles fd-thread.c once. Throws when bun:ffi's cc is unavailable or fails (then
 * native/fd-watch.ts falls back to its Worker, and native/socket-reader.ts to Bun's stream).
 */
export function threadCode(): ThreadCode {
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
      symbols: {
        fd_watch_thread: { args: [FFIType.ptr], returns: FFIType.ptr },
        fd_signal_thread: { args: [FFIType.ptr], returns: FFIType.ptr },
      },
    });
    compiled = { library, watchEntry: addressOf(library.symbols.fd_watch_thread), signalEntry: addressOf(library.symbols.fd_signal_thread) };
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
  threadCode();
  pthreads();
}
