// Reading a socket fd without a thread and without idle wake-ups.
//
// `Bun.file(fd).stream()` registers a dup of the fd with Bun's own epoll and reads with
// `recvfrom(MSG_DONTWAIT)`: measured at zero wake-ups while idle, unlike Bun's socket layer
// (`Bun.connect`, `node:net`), which wakes the process about three times a second
// (bun-runtime.md §2, §4). It must only be used on sockets: on a character device it blocks the
// main thread in `pread` or fails with ESPIPE. A chunk may hold several datagrams or a partial
// stream message; callers frame it themselves. On an error (ENOBUFS on netlink) the stream dies and
// a new one on the same fd works.

export interface SocketReaderHandlers {
  data(chunk: Uint8Array): void;
  /** Return true to keep reading (a new stream on the same fd), false to stop. */
  error(err: { code: string; message: string }): boolean;
  /** The peer closed the connection (end of stream). */
  end(): void;
}

export interface SocketReader {
  /** Stops reading and closes Bun's dup of the fd (the caller still owns and closes `fd`). */
  stop(): void;
}

export function readSocket(fd: number, on: SocketReaderHandlers): SocketReader {
  let stopped = false;
  let current: { cancel(): Promise<void> } | undefined;
  const pump = async (): Promise<void> => {
    while (!stopped) {
      const reader = Bun.file(fd).stream().getReader();
      current = reader;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (stopped) return;
          if (done) {
            on.end();
            return;
          }
          on.data(value);
        }
      } catch (e) {
        if (stopped) return;
        const err = e as { code?: string; message?: string };
        if (!on.error({ code: err.code ?? "EIO", message: err.message ?? String(e) })) return;
      }
    }
  };
  void pump();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      current?.cancel().catch(() => {});
    },
  };
}
