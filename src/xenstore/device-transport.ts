// The guest's xenbus device (/dev/xen/xenbus): what a domU uses. The kernel's connection to
// xenstored is the domain's connection, so relative paths resolve under /local/domain/<domid>.
import {
  closeXenbus,
  openXenbus,
  startXenbusReader,
  writeXenbus,
  type XenbusReader,
} from "../../native/index.ts";
import { FdTransport } from "./transport.ts";

export class DeviceTransport extends FdTransport {
  private reader: XenbusReader | undefined;

  /**
   * Opens `path` now (ENOENT from the driver means the kernel has no xenstore connection).
   * `fd` lets tests hand in a pipe or pty instead of the device.
   */
  constructor(
    readonly path: string,
    fd?: number,
  ) {
    super(`device:${path}`, fd ?? openXenbus(path));
  }

  protected startReading(fd: number, data: (chunk: Uint8Array) => void, lost: (reason: string) => void): void {
    this.reader = startXenbusReader(fd, { data, closed: lost });
  }

  protected writeMessage(fd: number, message: Uint8Array): void {
    writeXenbus(fd, message);
  }

  /** Stops the reader; the fd is closed once its watcher has let go of it (closing the device
   * file drops its kernel watches and aborts its transactions). */
  protected release(fd: number): void {
    if (this.reader) this.reader.stop();
    else closeXenbus(fd);
  }
}
