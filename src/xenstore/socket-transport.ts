// xenstored's Unix socket (dom0, or a test daemon): FFI connect, reads with native/socket-reader.ts
// (a thread asleep in poll(), no idle wake-up), one FFI write() per message.
import { readSocket, type SocketReader } from "../../native/index.ts";
import { closeFd, connectUnixSocket, writeAll } from "../../native/index.ts";
import { FdTransport } from "./transport.ts";

export class SocketTransport extends FdTransport {
  private reader: SocketReader | undefined;

  /** Connects now, so a missing or refused socket throws here (SystemError ENOENT/ECONNREFUSED). */
  constructor(readonly path: string) {
    super(`socket:${path}`, connectUnixSocket(path));
  }

  protected startReading(fd: number, data: (chunk: Uint8Array) => void, lost: (reason: string) => void): void {
    this.reader = readSocket(fd, {
      data,
      error: (err) => {
        lost(`read failed: ${err.code} ${err.message}`);
        return false;
      },
      end: () => lost("closed by xenstored"),
    });
  }

  protected writeMessage(fd: number, message: Uint8Array): void {
    writeAll(fd, message);
  }

  protected release(fd: number): void {
    this.reader?.stop();
    closeFd(fd);
  }
}
