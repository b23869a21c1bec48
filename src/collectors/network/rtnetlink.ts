// rtnetlink message codec: pure functions on bytes, no I/O. The collector feeds it whatever the
// socket produced (a chunk may hold several datagrams back to back: netlink messages carry their
// own length and are 4-byte aligned, so concatenation still frames) and gets typed messages back.
//
// Constants are those of the kernel UAPI headers named next to them; all fields are host byte order
// (little-endian on every architecture a Xen guest runs on: x86-64, arm64).
import type { AddressScope } from "../../facts/facts.ts";
import { formatIpv4, formatIpv6 } from "./ip-text.ts";

// linux/netlink.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
/** Set on a dump reply when the table changed while the dump ran: the dump may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
// linux/rtnetlink.h
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;
// linux/socket.h
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
// linux/if_link.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_WIRELESS = 11;
const IFLA_OPERSTATE = 16;
// linux/if_addr.h
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
/** Since Linux 5.18: who configured the address (IFAPROT_*; any other value is userspace's to pick). */
const IFA_PROTO = 11;
export const IFA_F_SECONDARY = 0x01; // IPv4 meaning of bit 0 ...
export const IFA_F_TEMPORARY = 0x01; // ... and its IPv6 meaning (RFC 4941 privacy address)
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
/** linux/netlink.h: the top two bits of nla_type are NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

/** linux/if.h `IF_OPER_*`, in the lower-case spelling `ip` prints. */
const OPERSTATES = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"];

export interface Header {
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** RTM_NEWLINK / RTM_DELLINK. Each NEWLINK carries the whole link state (rtnl_fill_ifinfo). */
export interface LinkMessage {
  op: "new" | "del";
  ifindex: number;
  /** undefined only on a malformed-but-tolerated message without IFLA_IFNAME. */
  name: string | undefined;
  mac: string | null;
  master: number | null;
  operstate: string;
}

/** RTM_NEWADDR / RTM_DELADDR for AF_INET or AF_INET6. */
export interface AddrMessage {
  op: "new" | "del";
  ifindex: number;
  family: "ipv4" | "ipv6";
  /** The interface's own address: IFA_LOCAL, else IFA_ADDRESS (IPv6 normally sends only that). */
  address: string;
  /** The other end on point-to-point links (IFA_ADDRESS when it differs from IFA_LOCAL), else null. */
  peer: string | null;
  prefixLength: number;
  scope: AddressScope;
  /** IFA_F_* from IFA_FLAGS (32-bit) when present, else the 8-bit ifa_flags of the header. */
  flags: number;
  /** IFA_PROTO when the kernel sent it (5.18+ and someone set it). */
  proto?: number;
}

export type Message =
  | { kind: "link"; header: Header; link: LinkMessage }
  | { kind: "addr"; header: Header; addr: AddrMessage }
  | { kind: "done"; header: Header }
  /** NLMSG_ERROR: `errno` is positive (0 is an acknowledgement). */
  | { kind: "error"; header: Header; errno: number }
  /** A message the collector has no use for, with the reason (kept for debug logs). */
  | { kind: "ignored"; header: Header; reason: string }
  /** A message that could not be decoded; `header` is absent when the framing itself broke. */
  | { kind: "malformed"; header?: Header; reason: string };

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Splits a chunk into messages and decodes each one. Never throws: a bad message becomes a
 * `malformed` entry and decoding resumes at the next message; a broken length field ends the
 * chunk (nothing after it can be framed).
 */
export function decodeChunk(chunk: Uint8Array): Message[] {
  const out: Message[] = [];
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let off = 0;
  while (off < chunk.byteLength) {
    const left = chunk.byteLength - off;
    if (left < NLMSG_HDRLEN) {
      out.push({ kind: "malformed", reason: `truncated header: ${left} trailing bytes` });
      break;
    }
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || len > left) {
      out.push({ kind: "malformed", reason: `bad nlmsg_len ${len} with ${left} bytes left` });
      break;
    }
    const header: Header = {
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      pid: view.getUint32(off + 12, true),
    };
    out.push(decodeMessage(header, chunk.subarray(off + NLMSG_HDRLEN, off + len)));
    off += align4(len);
  }
  return out;
}

/** Decodes one message body (the bytes after the 16-byte nlmsghdr). */
export function decodeMessage(header: Header, body: Uint8Array): Message {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (header.type) {
    case NLMSG_DONE:
      return { kind: "done", header };
    case NLMSG_ERROR:
      // struct nlmsgerr: int error (negative errno), then the offending request's header.
      if (body.byteLength < 4) return { kind: "malformed", header, reason: "short NLMSG_ERROR" };
      return { kind: "error", header, errno: -view.getInt32(0, true) };
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return decodeLink(header, body, view);
    case RTM_NEWADDR:
    case RTM_DELADDR:
      return decodeAddr(header, body, view);
    default:
      return { kind: "ignored", header, reason: `message type ${header.type}` };
  }
}

/** rtattrs of a message body from `start`: type (flag bits masked) → payload; last one wins. */
function attributes(body: Uint8Array, start: number): Map<number, Uint8Array> | string {
  const attrs = new Map<number, Uint8Array>();
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let off = start;
  while (off + 4 <= body.byteLength) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > body.byteLength) return `bad rtattr length ${len} at offset ${off}`;
    attrs.set(view.getUint16(off + 2, true) & NLA_TYPE_MASK, body.subarray(off + 4, off + len));
    off += align4(len);
  }
  return attrs;
}

// struct ifinfomsg (16 bytes): family u8 @0, type u16 @2, index i32 @4, flags u32 @8, change u32 @12.
const IFINFOMSG_LEN = 16;

function decodeLink(header: Header, body: Uint8Array, view: DataView): Message {
  if (body.byteLength < IFINFOMSG_LEN) return { kind: "malformed", header, reason: "short ifinfomsg" };
  const family = view.getUint8(0);
  // Bridge port notifications are RTM_NEWLINK/RTM_DELLINK with ifi_family AF_BRIDGE on the same
  // group (net/bridge/br_netlink.c, br_ifinfo_notify): a DELLINK there means "left the bridge",
  // not "gone". Real link messages are AF_UNSPEC.
  if (family !== AF_UNSPEC) return { kind: "ignored", header, reason: `link family ${family}` };
  const ifindex = view.getInt32(4, true);
  if (ifindex <= 0) return { kind: "malformed", header, reason: `ifindex ${ifindex}` };
  const attrs = attributes(body, IFINFOMSG_LEN);
  if (typeof attrs === "string") return { kind: "malformed", header, reason: attrs };
  // Wireless extension events are RTM_NEWLINK carrying only IFLA_IFNAME + IFLA_WIRELESS
  // (net/wireless/wext-core.c): not a link state, must not wipe the MAC or operstate.
  if (attrs.has(IFLA_WIRELESS)) return { kind: "ignored", header, reason: "wireless event" };
  const nameBytes = attrs.get(IFLA_IFNAME);
  const macBytes = attrs.get(IFLA_ADDRESS);
  const master = attrs.get(IFLA_MASTER);
  const oper = attrs.get(IFLA_OPERSTATE);
  const link: LinkMessage = {
    op: header.type === RTM_NEWLINK ? "new" : "del",
    ifindex,
    name: nameBytes ? cString(nameBytes) : undefined,
    mac: macBytes && macBytes.byteLength > 0 ? formatMac(macBytes) : null,
    master: master && master.byteLength >= 4 ? u32(master) || null : null,
    operstate: oper && oper.byteLength >= 1 ? (OPERSTATES[oper[0]!] ?? `${oper[0]}`) : "unknown",
  };
  if (link.op === "new" && link.name === undefined) {
    return { kind: "malformed", header, reason: `RTM_NEWLINK ifindex ${ifindex} without IFLA_IFNAME` };
  }
  return { kind: "link", header, link };
}

// struct ifaddrmsg (8 bytes): family u8 @0, prefixlen u8 @1, flags u8 @2, scope u8 @3, index u32 @4.
const IFADDRMSG_LEN = 8;

function decodeAddr(header: Header, body: Uint8Array, view: DataView): Message {
  if (body.byteLength < IFADDRMSG_LEN) return { kind: "malformed", header, reason: "short ifaddrmsg" };
  const fam = view.getUint8(0);
  if (fam !== AF_INET && fam !== AF_INET6) return { kind: "ignored", header, reason: `address family ${fam}` };
  const family = fam === AF_INET ? "ipv4" : "ipv6";
  const size = family === "ipv4" ? 4 : 16;
  const prefixLength = view.getUint8(1);
  if (prefixLength > size * 8) return { kind: "malformed", header, reason: `prefix length ${prefixLength}` };
  const attrs = attributes(body, IFADDRMSG_LEN);
  if (typeof attrs === "string") return { kind: "malformed", header, reason: attrs };
  const local = attrs.get(IFA_LOCAL);
  const addr = attrs.get(IFA_ADDRESS);
  const own = local ?? addr;
  if (!own || own.byteLength !== size || (addr && addr.byteLength !== size)) {
    return { kind: "malformed", header, reason: `${family} address attribute missing or not ${size} bytes` };
  }
  const format = family === "ipv4" ? formatIpv4 : formatIpv6;
  const address = format(own);
  const peerText = local && addr ? format(addr) : null;
  const flags32 = attrs.get(IFA_FLAGS);
  return {
    kind: "addr",
    header,
    addr: {
      op: header.type === RTM_NEWADDR ? "new" : "del",
      ifindex: view.getUint32(4, true),
      family,
      address,
      peer: peerText !== null && peerText !== address ? peerText : null,
      prefixLength,
      scope: scopeName(view.getUint8(3)),
      // IFA_FLAGS (since 3.14) holds all 32 bits; the header byte only the low 8.
      flags: flags32 && flags32.byteLength >= 4 ? u32(flags32) : view.getUint8(2),
      ...(attrs.has(IFA_PROTO) ? { proto: attrs.get(IFA_PROTO)![0] ?? 0 } : {}),
    },
  };
}

/**
 * linux/rtnetlink.h `enum rt_scope_t`: UNIVERSE 0, SITE 200, LINK 253, HOST 254, NOWHERE 255.
 * Values in between are user-defined; they are given the name of the next wider named scope.
 */
export function scopeName(scope: number): AddressScope {
  if (scope < 200) return "global";
  if (scope < 253) return "site";
  if (scope === 253) return "link";
  if (scope === 254) return "host";
  return "nowhere";
}

function u32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString("utf8");
}

/** Hardware address as lower-case colon-separated hex (`aa:bb:cc:dd:ee:ff`), any length. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A dump request: nlmsghdr + a zeroed ifinfomsg (RTM_GETLINK) or ifaddrmsg (RTM_GETADDR). */
export function encodeDumpRequest(type: typeof RTM_GETLINK | typeof RTM_GETADDR, seq: number): Uint8Array {
  const len = NLMSG_HDRLEN + (type === RTM_GETLINK ? IFINFOMSG_LEN : IFADDRMSG_LEN);
  const buf = new Uint8Array(len);
  const view = new DataView(buf.buffer);
  view.setUint32(0, len, true);
  view.setUint16(4, type, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, seq, true);
  // nlmsg_pid 0: the kernel fills in the sender's port id. Family AF_UNSPEC (0): all families.
  return buf;
}
