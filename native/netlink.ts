// The rtnetlink socket: AF_NETLINK / NETLINK_ROUTE, opened, sized, bound and written through libc.
// Reading is not done here: the collector hands the fd to `readSocket` (socket-reader.ts), whose
// thread sleeps in poll() with no timer.
import { check, Errno, libc, SOCK_RAW, SystemError } from "./libc.ts";
import { openNetlinkSocket } from "./netlink-socket.ts";

const NETLINK_ROUTE = 0; // linux/netlink.h

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
  const { fd, portId, receiveBufferBytes, forced } = openNetlinkSocket({ ...opts, protocol: NETLINK_ROUTE, type: SOCK_RAW, what: "AF_NETLINK" });
  let closed = false;
  return {
    fd,
    portId,
    receiveBufferBytes,
    forced,
    send(message) {
      if (closed) throw new SystemError("send(AF_NETLINK)", Errno.EBADF);
      const n = check(c.send(fd, message, message.byteLength, 0), "send(AF_NETLINK)");
      // A datagram socket sends all or nothing; a short count would be a kernel bug.
      if (n !== message.byteLength) throw new SystemError("send(AF_NETLINK) short", Errno.EIO);
    },
    close() {
      if (closed) return;
      closed = true;
      c.close(fd);
    },
  };
}
