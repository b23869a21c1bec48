// xenstored's Unix socket (dom0, or a test daemon): FFI connect, reads through Bun's epoll with
// native/socket-reader.ts (no thread, no idle wake-up), one FFI write() per message.
import { readSocket, type SocketReader } from "../../native/socket-reader.ts";
import { closeFd, connectUnixSocket, writeAll } from "../../native/unix-socket.ts";
import { XenstoreConnectionError } from "./errors.ts";
import type { Transport, TransportSink } from "./transport.ts";

export class SocketTransport implements Transport {
  readonly name: string;
  private reader: SocketReader | undefined;
  private fd: number;

  /** Connects now, so a missing or refused socket throws here (SystemError ENOENT/ECONNREFUSED). */
  constructor(readonly path: string) {
    this.name = `socket:${path}`;
    this.fd = connectUnixSocket(path);
  }

  open(sink: TransportSink): void {
    if (this.fd < 0) throw new XenstoreConnectionError(`${this.name}: closed`);
    this.reader = readSocket(this.fd, {
      data: (chunk) => sink.data(chunk),
      error: (err) => {
        if (this.fd >= 0) {
          this.shutdown();
          sink.closed(new Error(`read failed: ${err.code} ${err.message}`));
        }
        return false;
      },
      end: () => {
        if (this.fd >= 0) {
          this.shutdown();
          sink.closed(new Error("closed by xenstored"));
        }
      },
    });
  }

  write(message: Uint8Array): void {
    if (this.fd < 0) throw new XenstoreConnectionError(`${this.name}: closed`);
    try {
      writeAll(this.fd, message);
    } catch (e) {
      throw new XenstoreConnectionError(`${this.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  close(): void {
    this.shutdown();
  }

  private shutdown(): void {
    if (this.fd < 0) return;
    this.reader?.stop();
    closeFd(this.fd);
    this.fd = -1;
  }
}
