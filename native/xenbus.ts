// The xenbus character device (/dev/xen/xenbus, /proc/xen/xenbus): opened on the main thread,
// read by a Worker blocked in read() (native/xenbus-worker.ts), written with one write() per
// message from the main thread only: the driver assembles a message per open file from the
// writes it gets (xenbus_file_write), so two writers' halves would interleave.
import { check, cstr, errno, libc, O_CLOEXEC, O_RDWR, SystemError } from "./libc.ts";

export type XenbusWorkerMessage =
  | { kind: "data"; bytes: ArrayBuffer }
  | { kind: "end" }
  | { kind: "error"; code: string };

export interface XenbusReaderHandlers {
  data(chunk: Uint8Array): void;
  /** read() returned 0 or failed: the reader has stopped. */
  closed(reason: string): void;
}

export interface XenbusReader {
  /** Terminates the Worker (safe while it is blocked in read()). The caller closes the fd. */
  stop(): void;
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

/** Starts the reader Worker on `fd` (any fd whose read() blocks: the device, a pipe, a pty). */
export function startXenbusReader(fd: number, on: XenbusReaderHandlers): XenbusReader {
  const worker = new Worker(xenbusWorkerSpecifier());
  let stopped = false;
  const finish = (reason: string): void => {
    if (stopped) return;
    stopped = true;
    worker.terminate();
    on.closed(reason);
  };
  worker.onmessage = (ev: MessageEvent<XenbusWorkerMessage>) => {
    if (stopped) return;
    const m = ev.data;
    if (m.kind === "data") on.data(new Uint8Array(m.bytes));
    else if (m.kind === "end") finish("end of file");
    else finish(`read failed: ${m.code}`);
  };
  worker.onerror = (ev) => finish(`reader worker failed: ${ev.message}`);
  worker.postMessage({ fd });
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      worker.terminate();
    },
  };
}

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
