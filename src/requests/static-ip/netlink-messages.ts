// The rtnetlink messages static IP needs, built and decoded as plain bytes (no I/O): address and
// default-route changes with NLM_F_ACK, route dumps, and acknowledgements with the kernel's
// extended error message. Links and addresses reuse the collector's codec
// (src/collectors/network/rtnetlink.ts).
//
// What the agent adds carries its mark, so it can tell its own work from the guest's after a
// restart: addresses get IFA_PROTO = AGENT_PROTO (Linux 5.18+; `ip addr` shows "proto 88"), routes
// rtm_protocol = AGENT_PROTO (`ip route` shows "proto 88"). 88 is unassigned in iproute2's
// rt_protos; on older kernels the address mark is ignored and the agent's memory is used instead.
import { AF_INET, AF_INET6, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, RTM_DELADDR, RTM_NEWADDR } from "../../collectors/network/rtnetlink.ts";
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../../collectors/network/ip-text.ts";
import type { Family } from "./protocol.ts";

export const AGENT_PROTO = 88;

const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const NLM_F_CAPPED = 0x100; // on NLMSG_ERROR: the request's payload is not echoed
const NLM_F_ACK_TLVS = 0x200; // on NLMSG_ERROR: extended ack attributes follow
const NLMSGERR_ATTR_MSG = 1;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_PROTO = 11;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
const RT_SCOPE_UNIVERSE = 0;

const align4 = (n: number): number => (n + 3) & ~3;
const familyNumber = (f: Family) => (f === "ipv4" ? AF_INET : AF_INET6);
const addressBytes = (f: Family, text: string): Uint8Array => {
  const b = f === "ipv4" ? parseIpv4(text) : parseIpv6(text);
  if (!b) throw new Error(`not an ${f} address: ${text}`);
  return b;
};

/** nlmsghdr + fixed header + rtattrs. */
function message(type: number, flags: number, seq: number, fixed: Uint8Array, attrs: [number, Uint8Array][]): Uint8Array {
  const len = NLMSG_HDRLEN + fixed.length + attrs.reduce((n, [, v]) => n + align4(4 + v.length), 0);
  const buf = new Uint8Array(len);
  const view = new DataView(buf.buffer);
  view.setUint32(0, len, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq, true);
  buf.set(fixed, NLMSG_HDRLEN);
  let off = NLMSG_HDRLEN + fixed.length;
  for (const [t, v] of attrs) {
    view.setUint16(off, 4 + v.length, true);
    view.setUint16(off + 2, t, true);
    buf.set(v, off + 4);
    off += align4(4 + v.length);
  }
  return buf;
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/** RTM_NEWADDR (create or replace, marked as the agent's) or RTM_DELADDR. */
export function encodeAddress(op: "new" | "del", a: { ifindex: number; family: Family; address: string; prefixLength: number }, seq: number): Uint8Array {
  // struct ifaddrmsg: family, prefixlen, flags, scope, index u32
  const fixed = new Uint8Array(8);
  fixed[0] = familyNumber(a.family);
  fixed[1] = a.prefixLength;
  fixed[3] = RT_SCOPE_UNIVERSE;
  new DataView(fixed.buffer).setUint32(4, a.ifindex, true);
  const bytes = addressBytes(a.family, a.address);
  const attrs: [number, Uint8Array][] = [[IFA_LOCAL, bytes], [IFA_ADDRESS, bytes]];
  if (op === "new") attrs.push([IFA_PROTO, Uint8Array.of(AGENT_PROTO)]);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "new" ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  return message(op === "new" ? RTM_NEWADDR : RTM_DELADDR, flags, seq, fixed, attrs);
}

/**
 * The default route of the main table through `gateway` on `ifindex`: RTM_NEWROUTE with
 * NLM_F_REPLACE (it takes the place of the default route with the same metric), or RTM_DELROUTE
 * of the agent's own (rtm_protocol AGENT_PROTO: the kernel deletes only a route with it).
 */
export function encodeDefaultRoute(op: "replace" | "del", r: { ifindex: number; family: Family; gateway: string | null }, seq: number): Uint8Array {
  // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32
  const fixed = new Uint8Array(12);
  fixed[0] = familyNumber(r.family);
  fixed[4] = RT_TABLE_MAIN;
  fixed[5] = AGENT_PROTO;
  fixed[6] = RT_SCOPE_UNIVERSE;
  fixed[7] = RTN_UNICAST;
  const attrs: [number, Uint8Array][] = [[RTA_TABLE, u32(RT_TABLE_MAIN)], [RTA_OIF, u32(r.ifindex)]];
  if (r.gateway) attrs.push([RTA_GATEWAY, addressBytes(r.family, r.gateway)]);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === "replace" ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  return message(op === "replace" ? RTM_NEWROUTE : RTM_DELROUTE, flags, seq, fixed, attrs);
}

export function encodeRouteDump(family: Family, seq: number): Uint8Array {
  const fixed = new Uint8Array(12);
  fixed[0] = familyNumber(family);
  return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, fixed, []);
}

export interface DefaultRoute {
  family: Family;
  ifindex: number;
  gateway: string | null;
  protocol: number;
}

export interface NetlinkReply {
  /** Default routes of the main table found in a route dump. */
  routes: DefaultRoute[];
  /** NLMSG_ERROR for our sequence number: 0 is the acknowledgement. */
  errno?: number;
  /** The kernel's extended error message, when it sent one. */
  errorMessage?: string;
  done: boolean;
}

/** Decodes reply chunks for request `seq`: route dump entries, the ack or error, NLMSG_DONE. */
export function decodeReplies(chunks: Uint8Array[], seq: number): NetlinkReply {
  const out: NetlinkReply = { routes: [], done: false };
  for (const chunk of chunks) {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let off = 0; off + NLMSG_HDRLEN <= chunk.byteLength; ) {
      const len = view.getUint32(off, true);
      if (len < NLMSG_HDRLEN || off + len > chunk.byteLength) break;
      const type = view.getUint16(off + 4, true);
      const flags = view.getUint16(off + 6, true);
      const mseq = view.getUint32(off + 8, true);
      const body = chunk.subarray(off + NLMSG_HDRLEN, off + len);
      if (mseq === seq) {
        if (type === NLMSG_DONE) out.done = true;
        else if (type === NLMSG_ERROR && body.length >= 4) {
          const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
          out.errno = -bv.getInt32(0, true);
          out.done = true;
          if (flags & NLM_F_ACK_TLVS && body.length >= 4 + NLMSG_HDRLEN) {
            const echoed = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : bv.getUint32(4, true);
            for (let a = 4 + align4(echoed); a + 4 <= body.length; ) {
              const alen = bv.getUint16(a, true);
              if (alen < 4) break;
              if (bv.getUint16(a + 2, true) === NLMSGERR_ATTR_MSG) out.errorMessage = Buffer.from(body.subarray(a + 4, a + alen)).toString("utf8").replace(/\0+$/, "");
              a += align4(alen);
            }
          }
        } else if (type === RTM_NEWROUTE) {
          const route = decodeDefaultRoute(body);
          if (route) out.routes.push(route);
        }
      }
      off += align4(len);
    }
  }
  return out;
}

function decodeDefaultRoute(body: Uint8Array): DefaultRoute | undefined {
  if (body.length < 12) return undefined;
  const fam = body[0];
  if ((fam !== AF_INET && fam !== AF_INET6) || body[1] !== 0) return undefined; // dst_len 0: default only
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let table = body[4]!;
  let ifindex = 0;
  let gateway: string | null = null;
  for (let off = 12; off + 4 <= body.length; ) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > body.length) break;
    const type = view.getUint16(off + 2, true) & 0x3fff;
    const v = body.subarray(off + 4, off + len);
    if (type === RTA_TABLE && v.length >= 4) table = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
    if (type === RTA_OIF && v.length >= 4) ifindex = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
    if (type === RTA_GATEWAY) gateway = v.length === 4 ? formatIpv4(v) : v.length === 16 ? formatIpv6(v) : null;
    if (type === RTA_DST && v.length > 0) return undefined;
    off += align4(len);
  }
  if (table !== RT_TABLE_MAIN || body[7] !== RTN_UNICAST) return undefined;
  return { family: fam === AF_INET ? "ipv4" : "ipv6", ifindex, gateway, protocol: body[5]! };
}
