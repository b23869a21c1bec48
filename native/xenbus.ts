// The xenbus character device (/dev/xen/xenbus, /proc/xen/xenbus): opened on the main thread,
// read by a Worker blocked in read() (native/xenbus-worker.ts), written with one write() per
// message from the main thread only: the driver assembles a message per open file from the
// writes it gets (xenbus_file_write), so two writers' halves would interleave.
import { check, cstr, errno, libc, O_CLOEXEC, O_RDWR, SystemError } from "./libc.ts";

export type XenbusWorkerMessage =
  | { kind: "data"; bytes: ArrayBuffer }
  | { kind: "end" }
  | { kind: "error"; code: string }
  /** Answer to the wake pipe: the Worker no longer touches the fd. */
  | { kind: "stopped" };

export interface XenbusReaderHandlers {
  data(chunk: Uint8Array): void;
  /** read() returned 0 or failed: the reader has stopped. */
  closed(reason: string): void;
}

export interface XenbusReader {
  /**
   * Wakes the Worker out of poll() and ends it; `released` runs once it no longer touches the
   * fd (at once if it already stopped), and is where the caller closes the fd: closing earlier
   * could hand the fd number to a new file while the Worker still reads it.
   */
  stop(released: () => void): void;
}

const EINTR = 4;

/** open(path, O_RDWR|O_CLOEXEC): blocking, so the Worker's read() sleeps in the kernel. */
export function openXenbus(path: string): number {
  return check(libc().open(cstr(path), O_RDWR | O_CLOEXEC, 0), `open ${path}`);
}

/**
 * Where the Worker's code is. In dev mode: the .ts file next to this module. In a
 * `bun build --compile` binary every module is bundled into one file whose import.meta.url is
 * the binary itself (`file:///$bunfs/root/<outfile>`); the worker exists there only if
 * native/xenbus-worker.ts was an extra entrypoint of the build, embedded as
 * `/$bunfs/root/native/xenbus-worker.js` (paths relative to the entrypoints' common root, the
 * repo), and the specifier `./native/xenbus-worker.ts` resolves to it from any cwd (measured
 * with Bun 1.4.5; the module-relative URL does not).
 */
export function xenbusWorkerSpecifier(moduleUrl: string = import.meta.url): string {
  if (moduleUrl.startsWith("file:///$bunfs/")) return "./native/xenbus-worker.ts";
  return new URL("./xenbus-worker.ts", moduleUrl).href;
}

/** Starts the reader Worker on `fd` (any pollable fd: the device, a socketpair, a pipe). */
export function startXenbusReader(fd: number, on: XenbusReaderHandlers): XenbusReader {
  const C = libc();
  const pipe = new Int32Array(2);
  check(C.pipe2(pipe, O_CLOEXEC), "pipe2");
  const [wakeRead, wakeWrite] = [pipe[0]!, pipe[1]!];
  const worker = new Worker(xenbusWorkerSpecifier());
  let running = true; // the Worker may still touch fd
  let stopping = false; // stop() was called: deliver nothing more
  let released: (() => void) | undefined;
  const exited = (): void => {
    if (!running) return;
    running = false;
    worker.terminate();
    C.close(wakeRead);
    C.close(wakeWrite);
    released?.();
  };
  worker.onmessage = (ev: MessageEvent<XenbusWorkerMessage>) => {
    const m = ev.data;
    if (m.kind === "data") {
      if (!stopping) on.data(new Uint8Array(m.bytes));
      return;
    }
    exited();
    if (stopping || m.kind === "stopped") return;
    on.closed(m.kind === "end" ? "end of file" : `read failed: ${m.code}`);
  };
  worker.onerror = (ev) => {
    exited();
    if (!stopping) on.closed(`reader worker failed: ${ev.message}`);
  };
  worker.postMessage({ fd, wakeFd: wakeRead });
  return {
    stop(cb) {
      if (stopping) return;
      stopping = true;
      if (!running) {
        cb();
        return;
      }
      released = cb;
      if (Number(C.write(wakeWrite, WAKE, 1)) !== 1) exited(); // cannot wake it: terminate, release
    },
  };
}

const WAKE = Uint8Array.of(1);

/**
 * Writes one whole message with write(). The driver takes it in one call unless it is over
 * the 4096-byte payload limit (then E2BIG/EINVAL); on other fds (tests) a short write continues.
 */
export function writeXenbus(fd: number, message: Uint8Array): void {
  const C = libc();
  let off = 0;
  while (off < message.length) {
    const chunk = off === 0 ? message : message.subarray(off);
    const n = Number(C.write(fd, chunk, chunk.length));
    if (n >= 0) {
      off += n;
      continue;
    }
    const e = errno();
    if (e !== EINTR) throw new SystemError("write", e);
  }
}

export function closeXenbus(fd: number): void {
  libc().close(fd);
}
