// rtnetlink requests that change the network (addresses, routes) and dumps read on demand: one
// request, its replies, done. Socket set-up is native/netlink.ts's; messages are built and decoded
// in plain TypeScript (src/requests/static-ip/netlink-messages.ts). rtnetlink carries out a request
// inside send(), so its acknowledgement (or a dump's next part, produced inside recv()) is queued
// by the time we read: the reads never wait (MSG_DONTWAIT), and nothing polls.
import { check, Errno, libc, MSG_DONTWAIT, SystemError } from "./libc.ts";
import { openRtnetlink } from "./netlink.ts";

const SOL_NETLINK = 270; // linux/socket.h
const NETLINK_EXT_ACK = 11; // linux/netlink.h: errors carry the kernel's message (NLMSGERR_ATTR_MSG)
const RECV_BYTES = 64 * 1024;

export interface RtnetlinkRequester {
  /**
   * Sends `message` and returns the reply chunks up to the one `finished` accepts (the ack or
   * NLMSG_DONE for the request's sequence number). Throws SystemError.
   */
  request(message: Uint8Array, finished: (chunk: Uint8Array) => boolean): Uint8Array[];
  close(): void;
}

export function openRtnetlinkRequester(): RtnetlinkRequester {
  const socket = openRtnetlink({ groups: 0, receiveBufferBytes: 256 * 1024 });
  const c = libc();
  // Best effort: without extended acks an error is only its errno.
  c.setsockopt(socket.fd, SOL_NETLINK, NETLINK_EXT_ACK, new Int32Array([1]), 4);
  const buf = new Uint8Array(RECV_BYTES);
  return {
    request(message, finished) {
      socket.send(message);
      const chunks: Uint8Array[] = [];
      for (;;) {
        const n = Number(c.recv(socket.fd, buf, RECV_BYTES, MSG_DONTWAIT));
        if (n < 0) check(n, "recv(AF_NETLINK)");
        if (n === 0) throw new SystemError("recv(AF_NETLINK) end of stream", Errno.EIO);
        const chunk = buf.slice(0, n);
        chunks.push(chunk);
        if (finished(chunk)) return chunks;
      }
    },
    close: () => socket.close(),
  };
}
