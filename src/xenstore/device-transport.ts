// The guest's xenbus device (/dev/xen/xenbus): what a domU uses. The kernel's connection to
// xenstored is the domain's connection, so relative paths resolve under /local/domain/<domid>.
import {
  closeXenbus,
  openXenbus,
  startXenbusReader,
  writeXenbus,
  type XenbusReader,
} from "../../native/xenbus.ts";
import { XenstoreConnectionError } from "./errors.ts";
import type { Transport, TransportSink } from "./transport.ts";

export class DeviceTransport implements Transport {
  readonly name: string;
  private fd: number;
  private reader: XenbusReader | undefined;

  /**
   * Opens `path` now (ENOENT from the driver means the kernel has no xenstore connection).
   * `fd` lets tests hand in a pipe or pty instead of the device.
   */
  constructor(
    readonly path: string,
    fd?: number,
  ) {
    this.name = `device:${path}`;
    this.fd = fd ?? openXenbus(path);
  }

  open(sink: TransportSink): void {
    if (this.fd < 0) throw new XenstoreConnectionError(`${this.name}: closed`);
    this.reader = startXenbusReader(this.fd, {
      data: (chunk) => sink.data(chunk),
      closed: (reason) => {
        if (this.fd < 0) return;
        this.shutdown();
        sink.closed(new Error(reason));
      },
    });
  }

  write(message: Uint8Array): void {
    if (this.fd < 0) throw new XenstoreConnectionError(`${this.name}: closed`);
    try {
      writeXenbus(this.fd, message);
    } catch (e) {
      throw new XenstoreConnectionError(`${this.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  close(): void {
    this.shutdown();
  }

  /** Stops the reader; the fd is closed once the Worker has let go of it (closing the device
   * file drops its kernel watches and aborts its transactions). */
  private shutdown(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    if (this.reader) this.reader.stop(() => closeXenbus(fd));
    else closeXenbus(fd);
  }
}
