// Unix datagram sockets: syslog's /dev/log and systemd's NOTIFY_SOCKET. One message per send().
import { AF_UNIX, check, libc, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM } from "./libc.ts";
import { sockaddrUn } from "./sockaddr-un.ts";

export interface UnixDatagram {
  /** Sends one datagram without blocking; false when it could not be sent (full, gone). */
  send(message: string): boolean;
  close(): void;
}

/** A datagram socket connected to `path`. Throws SystemError when nothing listens there. */
export function connectUnixDatagram(path: string): UnixDatagram {
  const c = libc();
  const fd = check(c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX, SOCK_DGRAM)");
  const { addr, length } = sockaddrUn(path);
  try {
    check(c.connect(fd, addr, length), `connect ${path}`);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  let open = true;
  return {
    send(message) {
      if (!open) return false;
      const buf = Buffer.from(message, "utf8");
      return Number(c.send(fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL)) === buf.length;
    },
    close() {
      if (open) c.close(fd);
      open = false;
    },
  };
}
