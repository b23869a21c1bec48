// The kernel's uevent socket: AF_NETLINK / NETLINK_KOBJECT_UEVENT, bound to multicast group 1
// (the kernel's own events; group 2 is udev's re-broadcast, which is not used). Each datagram is
// `ACTION@DEVPATH\0KEY=VALUE\0…` (lib/kobject_uevent.c). Reading is not done here: the collector hands
// the fd to `readSocket` (socket-reader.ts), which waits in Bun's epoll with no thread and no timer.
//
// Only processes with CAP_NET_ADMIN in the socket's network namespace can send to group 1
// (netlink_sendmsg: NL_CFG_F_NONROOT_SEND is not set for uevents), so what arrives comes from the
// kernel or from root.
import { check, AF_NETLINK, libc, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, SOL_SOCKET, SystemError, errno } from "./libc.ts";

const NETLINK_KOBJECT_UEVENT = 15; // linux/netlink.h
const UEVENT_GROUP_KERNEL = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SOCKADDR_NL_LEN = 12; // family u16 @0, pad u16 @2, pid u32 @4, groups u32 @8
const EAGAIN = 11;

export interface UeventSocket {
  readonly fd: number;
  /** One datagram without waiting, or null when none is queued (capture tools, tests). */
  receive(): Uint8Array | null;
  /** Idempotent. */
  close(): void;
}

/** Opens and binds the socket; events queue from this moment on. Throws SystemError. */
export function openUevent(opts: { receiveBufferBytes?: number } = {}): UeventSocket {
  const c = libc();
  const fd = check(c.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT), "socket(NETLINK_KOBJECT_UEVENT)");
  try {
    const size = new Int32Array([opts.receiveBufferBytes ?? 1 << 20]);
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) {
      check(c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4), "setsockopt(SO_RCVBUF)");
    }
    const sa = new Uint8Array(SOCKADDR_NL_LEN);
    const view = new DataView(sa.buffer);
    view.setUint16(0, AF_NETLINK, true);
    view.setUint32(8, UEVENT_GROUP_KERNEL, true);
    check(c.bind(fd, sa, SOCKADDR_NL_LEN), "bind(NETLINK_KOBJECT_UEVENT)");
  } catch (e) {
    c.close(fd);
    throw e;
  }
  let closed = false;
  const buf = new Uint8Array(64 * 1024);
  return {
    fd,
    receive() {
      if (closed) throw new SystemError("recv(NETLINK_KOBJECT_UEVENT)", 9);
      const n = Number(c.recv(fd, buf, buf.byteLength, MSG_DONTWAIT));
      if (n < 0) {
        const e = errno();
        if (e === EAGAIN) return null;
        throw new SystemError("recv(NETLINK_KOBJECT_UEVENT)", e);
      }
      return buf.slice(0, n);
    },
    close() {
      if (closed) return;
      closed = true;
      c.close(fd);
    },
  };
}
