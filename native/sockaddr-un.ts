// struct sockaddr_un for connect()/bind() on Unix sockets, stream (xenstored) or datagram
// (syslog, NOTIFY_SOCKET).
import { AF_UNIX, SystemError } from "./libc.ts";

/** sizeof(sun_path): the path and its terminating NUL must fit. */
const SUN_PATH_MAX = 108;

/**
 * struct sockaddr_un { sa_family_t sun_family (u16 @0); char sun_path[108] (@2) }.
 * A path starting with `@` names the Linux abstract namespace (leading NUL, not NUL-terminated),
 * as NOTIFY_SOCKET may. Returns the buffer and the address length to pass to bind/connect.
 * Throws SystemError ENAMETOOLONG when the path does not fit.
 */
export function sockaddrUn(path: string): { addr: Uint8Array; length: number } {
  const abstract = path.startsWith("@");
  const bytes = Buffer.from(abstract ? `\0${path.slice(1)}` : path, "utf8");
  if (bytes.length >= SUN_PATH_MAX) throw new SystemError(`connect ${path}`, 36, "ENAMETOOLONG");
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  return { addr, length: 2 + bytes.length + (abstract ? 0 : 1) };
}
