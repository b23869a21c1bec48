// The rtnetlink socket: AF_NETLINK / NETLINK_ROUTE, opened, sized, bound and written through libc.
// Reading is not done here: the collector hands the fd to `readSocket` (socket-reader.ts), which
// waits in Bun's own epoll with no thread and no timer.
import { check, AF_NETLINK, libc, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET, SystemError } from "./libc.ts";

const NETLINK_ROUTE = 0; // linux/netlink.h
const SO_RCVBUF = 8; // asm-generic/socket.h
const SO_RCVBUFFORCE = 33; // same, but ignores net.core.rmem_max; needs CAP_NET_ADMIN
const SOCKADDR_NL_LEN = 12; // struct sockaddr_nl: family u16 @0, pad u16 @2, pid u32 @4, groups u32 @8

export interface RtnetlinkSocket {
  readonly fd: number;
  /** Our netlink port id (nl_pid): dump replies to our requests carry it, multicast events do not. */
  readonly portId: number;
  /** The receive buffer the kernel granted (SO_RCVBUF readback: it doubles the asked value). */
  readonly receiveBufferBytes: number;
  /** Whether SO_RCVBUFFORCE worked; false means SO_RCVBUF, capped by net.core.rmem_max. */
  readonly forced: boolean;
  /** Sends one request to the kernel. Throws SystemError. */
  send(message: Uint8Array): void;
  /** Idempotent. */
  close(): void;
}

/**
 * Opens a NETLINK_ROUTE socket subscribed to `groups` (RTMGRP_* bit mask, 0 for none). The
 * subscription is in place when this returns, so a dump sent afterwards cannot miss a change:
 * anything that happens after the dump passed an object arrives as an event.
 */
export function openRtnetlink(opts: { groups: number; receiveBufferBytes: number }): RtnetlinkSocket {
  const c = libc();
  const fd = check(c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), "socket(AF_NETLINK)");
  try {
    const forced = setBuffer(fd, opts.receiveBufferBytes);
    const sa = new Uint8Array(SOCKADDR_NL_LEN);
    const view = new DataView(sa.buffer);
    view.setUint16(0, AF_NETLINK, true);
    view.setUint32(8, opts.groups >>> 0, true);
    check(c.bind(fd, sa, SOCKADDR_NL_LEN), "bind(AF_NETLINK)");
    const len = new Uint32Array([SOCKADDR_NL_LEN]);
    check(c.getsockname(fd, sa, len), "getsockname(AF_NETLINK)");
    const portId = view.getUint32(4, true);
    const granted = new Int32Array(1);
    check(c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, granted, new Uint32Array([4])), "getsockopt(SO_RCVBUF)");
    let closed = false;
    return {
      fd,
      portId,
      receiveBufferBytes: granted[0]!,
      forced,
      send(message) {
        if (closed) throw new SystemError("send(AF_NETLINK)", 9);
        const n = check(c.send(fd, message, message.byteLength, 0), "send(AF_NETLINK)");
        // A datagram socket sends all or nothing; a short count would be a kernel bug.
        if (n !== message.byteLength) throw new SystemError("send(AF_NETLINK) short", 5);
      },
      close() {
        if (closed) return;
        closed = true;
        c.close(fd);
      },
    };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/** SO_RCVBUFFORCE when permitted (root / CAP_NET_ADMIN), else SO_RCVBUF. Returns whether forced. */
function setBuffer(fd: number, bytes: number): boolean {
  const c = libc();
  const value = new Int32Array([bytes]);
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, value, 4) === 0) return true;
  check(c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4), "setsockopt(SO_RCVBUF)");
  return false;
}
