// Opening an AF_NETLINK socket: the one set-up shared by rtnetlink (native/netlink.ts) and the
// kernel's uevents (native/uevent.ts): socket, receive buffer, bind to multicast groups, our port id.
import { AF_NETLINK, check, libc, SOCK_CLOEXEC, SOL_SOCKET } from "./libc.ts";

const SO_RCVBUF = 8; // asm-generic/socket.h
const SO_RCVBUFFORCE = 33; // same, but ignores net.core.rmem_max; needs CAP_NET_ADMIN
const SOCKADDR_NL_LEN = 12; // struct sockaddr_nl: family u16 @0, pad u16 @2, pid u32 @4, groups u32 @8

export interface NetlinkSocketOptions {
  /** NETLINK_ROUTE (0), NETLINK_KOBJECT_UEVENT (15)… */
  protocol: number;
  /** SOCK_RAW or SOCK_DGRAM (the same for netlink). */
  type: number;
  /** Multicast groups bit mask; 0 for none. */
  groups: number;
  /** Asked receive buffer; the kernel doubles it (see receiveBufferBytes). */
  receiveBufferBytes: number;
  /** For messages: `socket(AF_NETLINK)`. */
  what: string;
}

export interface OpenedNetlinkSocket {
  fd: number;
  /** Our netlink port id (nl_pid). */
  portId: number;
  /** The receive buffer the kernel granted (SO_RCVBUF readback). */
  receiveBufferBytes: number;
  /** Whether SO_RCVBUFFORCE worked; false means SO_RCVBUF, capped by net.core.rmem_max. */
  forced: boolean;
}

/**
 * Opens, sizes and binds the socket. The subscription is in place when this returns, so a dump
 * sent afterwards cannot miss a change. Throws SystemError (the fd is closed then).
 */
export function openNetlinkSocket(opts: NetlinkSocketOptions): OpenedNetlinkSocket {
  const c = libc();
  const fd = check(c.socket(AF_NETLINK, opts.type | SOCK_CLOEXEC, opts.protocol), `socket(${opts.what})`);
  try {
    const value = new Int32Array([opts.receiveBufferBytes]);
    const forced = c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, value, 4) === 0;
    if (!forced) check(c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4), "setsockopt(SO_RCVBUF)");
    const sa = new Uint8Array(SOCKADDR_NL_LEN);
    const view = new DataView(sa.buffer);
    view.setUint16(0, AF_NETLINK, true);
    view.setUint32(8, opts.groups >>> 0, true);
    check(c.bind(fd, sa, SOCKADDR_NL_LEN), `bind(${opts.what})`);
    check(c.getsockname(fd, sa, new Uint32Array([SOCKADDR_NL_LEN])), `getsockname(${opts.what})`);
    const granted = new Int32Array(1);
    check(c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, granted, new Uint32Array([4])), "getsockopt(SO_RCVBUF)");
    return { fd, portId: view.getUint32(4, true), receiveBufferBytes: granted[0]!, forced };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}
