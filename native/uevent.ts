// The kernel's uevent socket: AF_NETLINK / NETLINK_KOBJECT_UEVENT, bound to multicast group 1
// (the kernel's own events; group 2 is udev's re-broadcast, which is not used). Each datagram is
// `ACTION@DEVPATH\0KEY=VALUE\0…` (lib/kobject_uevent.c). Reading is not done here: the collector hands
// the fd to `readSocket` (socket-reader.ts), whose thread sleeps in poll() with no timer.
//
// Only processes with CAP_NET_ADMIN in the socket's network namespace can send to group 1
// (netlink_sendmsg: NL_CFG_F_NONROOT_SEND is not set for uevents), so what arrives comes from the
// kernel or from root.
import { Errno, errno, libc, MSG_DONTWAIT, SOCK_DGRAM, SystemError } from "./libc.ts";
import { openNetlinkSocket } from "./netlink-socket.ts";

const NETLINK_KOBJECT_UEVENT = 15; // linux/netlink.h
const UEVENT_GROUP_KERNEL = 1;

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
  const { fd } = openNetlinkSocket({
    protocol: NETLINK_KOBJECT_UEVENT,
    type: SOCK_DGRAM,
    groups: UEVENT_GROUP_KERNEL,
    receiveBufferBytes: opts.receiveBufferBytes ?? 1 << 20,
    what: "NETLINK_KOBJECT_UEVENT",
  });
  let closed = false;
  const buf = new Uint8Array(64 * 1024);
  return {
    fd,
    receive() {
      if (closed) throw new SystemError("recv(NETLINK_KOBJECT_UEVENT)", Errno.EBADF);
      const n = Number(c.recv(fd, buf, buf.byteLength, MSG_DONTWAIT));
      if (n < 0) {
        const e = errno();
        if (e === Errno.EAGAIN) return null;
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
