// The only thing the client needs from a connection: a byte stream in, whole messages out.
// Implementations (Unix socket, xenbus device, test fakes) live beside the client and know
// nothing of the protocol beyond "one write() per message".
import { XenstoreConnectionError } from "./errors.ts";

export interface TransportSink {
  /** Bytes from the peer, in order; any chunking (half a message, several messages). */
  data(chunk: Uint8Array): void;
  /** The connection is gone (peer closed, read error). Called at most once, never after close(). */
  closed(err: Error): void;
}

export interface Transport {
  /** What this is, for logs and `XenstoreClient.transport`: `socket:/run/xenstored/socket`. */
  readonly name: string;
  /** Starts delivering to `sink`. Called once, by the client. */
  open(sink: TransportSink): void;
  /**
   * Sends one whole message (header + payload) with one write(): the xenbus driver assembles a
   * message per open file and interleaves nothing, so a message must never be split across
   * writers. Throws (XenstoreConnectionError) when the connection is unusable.
   */
  write(message: Uint8Array): void;
  /** Stops reading and releases the fd. Idempotent; `closed` is not called afterwards. */
  close(): void;
}

/**
 * What the fd transports (socket, xenbus device) share: the fd's lifetime. Unusable after close()
 * or a lost connection, write failures as XenstoreConnectionError, `closed` reported at most once
 * and never after close(). Subclasses say how to read, write and let go of the fd.
 */
export abstract class FdTransport implements Transport {
  private fd: number;

  protected constructor(
    readonly name: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  open(sink: TransportSink): void {
    this.startReading(this.usableFd(), (chunk) => sink.data(chunk), (reason) => {
      if (this.fd < 0) return;
      this.shutdown();
      sink.closed(new Error(reason));
    });
  }

  write(message: Uint8Array): void {
    const fd = this.usableFd();
    try {
      this.writeMessage(fd, message);
    } catch (e) {
      throw new XenstoreConnectionError(`${this.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  close(): void {
    this.shutdown();
  }

  /** Starts reading `fd`: bytes to `data`, a lost connection (once) to `lost`. */
  protected abstract startReading(fd: number, data: (chunk: Uint8Array) => void, lost: (reason: string) => void): void;
  /** Writes one whole message; throws on failure. */
  protected abstract writeMessage(fd: number, message: Uint8Array): void;
  /** Stops the reader and closes `fd` (called once). */
  protected abstract release(fd: number): void;

  private usableFd(): number {
    if (this.fd < 0) throw new XenstoreConnectionError(`${this.name}: closed`);
    return this.fd;
  }

  private shutdown(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.release(fd);
  }
}
