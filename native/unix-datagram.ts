// Unix datagram sockets: syslog's /dev/log and systemd's NOTIFY_SOCKET. One message per send().
import { AF_UNIX, check, libc, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM } from "./libc.ts";

const SUN_PATH_MAX = 108;

/**
 * struct sockaddr_un { sa_family_t sun_family (u16 @0); char sun_path[108] (@2) }.
 * A path starting with `@` names the Linux abstract namespace (leading NUL, not NUL-terminated),
 * as NOTIFY_SOCKET may. Returns the buffer and the address length to pass to bind/connect.
 */
export function sockaddrUn(path: string): { addr: Uint8Array; length: number } {
  const bytes = Buffer.from(path.startsWith("@") ? `\0${path.slice(1)}` : path, "utf8");
  if (bytes.length >= SUN_PATH_MAX) throw new RangeError(`unix socket path too long: ${path}`);
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  const abstract = path.startsWith("@");
  return { addr, length: 2 + bytes.length + (abstract ? 0 : 1) };
}

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
