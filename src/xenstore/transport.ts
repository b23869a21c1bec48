// The only thing the client needs from a connection: a byte stream in, whole messages out.
// Implementations (Unix socket, xenbus device, test fakes) live beside the client and know
// nothing of the protocol beyond "one write() per message".

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
