// A small rtnetlink marshaller for tests, written independently of the codec so the codec is checked
// against bytes laid out the way the kernel lays them out (linux/netlink.h, linux/rtnetlink.h).

export interface Attr {
  type: number;
  data: Uint8Array;
}

const pad4 = (n: number): number => (n + 3) & ~3;

export function attr(type: number, data: Uint8Array | number[] | string): Attr {
  if (typeof data === "string") return { type, data: new TextEncoder().encode(`${data}\0`) };
  return { type, data: data instanceof Uint8Array ? data : Uint8Array.from(data) };
}

export const u8 = (v: number): Uint8Array => Uint8Array.of(v);
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

export function ipv4(text: string): Uint8Array {
  return Uint8Array.from(text.split(".").map(Number));
}

/** Parses full or `::`-compressed IPv6 text (no dotted tail) into 16 bytes. */
export function ipv6(text: string): Uint8Array {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    b[2 * i] = v >> 8;
    b[2 * i + 1] = v & 0xff;
  });
  return b;
}

function attrsBytes(attrs: Attr[]): Uint8Array {
  const total = attrs.reduce((n, a) => n + pad4(4 + a.data.length), 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  let off = 0;
  for (const a of attrs) {
    v.setUint16(off, 4 + a.data.length, true);
    v.setUint16(off + 2, a.type, true);
    out.set(a.data, off + 4);
    off += pad4(4 + a.data.length);
  }
  return out;
}

export interface Hdr {
  type: number;
  flags?: number;
  seq?: number;
  pid?: number;
}

/** One netlink message: nlmsghdr + body, padded to 4 bytes. */
export function message(h: Hdr, body: Uint8Array): Uint8Array {
  const len = 16 + body.length;
  const out = new Uint8Array(pad4(len));
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, h.type, true);
  v.setUint16(6, h.flags ?? 0, true);
  v.setUint32(8, h.seq ?? 0, true);
  v.setUint32(12, h.pid ?? 0, true);
  out.set(body, 16);
  return out;
}

export interface IfInfo {
  family?: number;
  index: number;
  flags?: number;
  attrs: Attr[];
}

export function ifinfomsg(i: IfInfo): Uint8Array {
  const a = attrsBytes(i.attrs);
  const out = new Uint8Array(16 + a.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, i.family ?? 0);
  v.setUint16(2, 1, true); // ARPHRD_ETHER
  v.setInt32(4, i.index, true);
  v.setUint32(8, i.flags ?? 0, true);
  out.set(a, 16);
  return out;
}

export interface IfAddr {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index: number;
  attrs: Attr[];
}

export function ifaddrmsg(i: IfAddr): Uint8Array {
  const a = attrsBytes(i.attrs);
  const out = new Uint8Array(8 + a.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, i.family);
  v.setUint8(1, i.prefixlen);
  v.setUint8(2, i.flags ?? 0);
  v.setUint8(3, i.scope ?? 0);
  v.setUint32(4, i.index, true);
  out.set(a, 8);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// Convenience builders with the attribute numbers of linux/if_link.h and linux/if_addr.h.
export const IFLA = { ADDRESS: 1, IFNAME: 3, MASTER: 10, WIRELESS: 11, OPERSTATE: 16, MTU: 4 } as const;
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, CACHEINFO: 6, FLAGS: 8 } as const;

export function newLink(o: { index: number; name: string; mac?: number[]; master?: number; oper?: number; type?: number; family?: number; seq?: number; pid?: number; flags?: number }): Uint8Array {
  const attrs = [attr(IFLA.IFNAME, o.name), attr(IFLA.MTU, u32(1500))];
  if (o.mac) attrs.push(attr(IFLA.ADDRESS, o.mac));
  if (o.master !== undefined) attrs.push(attr(IFLA.MASTER, u32(o.master)));
  attrs.push(attr(IFLA.OPERSTATE, u8(o.oper ?? 6)));
  const body = ifinfomsg({ family: o.family, index: o.index, attrs });
  return message({ type: o.type ?? 16, seq: o.seq, pid: o.pid, flags: o.flags }, body);
}

export function newAddr(o: { index: number; v6?: boolean; addr: string; peer?: string; prefix: number; scope?: number; flags?: number; flags32?: number; type?: number; seq?: number; pid?: number; nlflags?: number }): Uint8Array {
  const enc = o.v6 ? ipv6 : ipv4;
  const attrs: Attr[] = [];
  if (o.v6 && !o.peer) attrs.push(attr(IFA.ADDRESS, enc(o.addr)));
  else {
    attrs.push(attr(IFA.ADDRESS, enc(o.peer ?? o.addr)));
    attrs.push(attr(IFA.LOCAL, enc(o.addr)));
  }
  attrs.push(attr(IFA.CACHEINFO, new Uint8Array(16)));
  if (o.flags32 !== undefined) attrs.push(attr(IFA.FLAGS, u32(o.flags32)));
  const body = ifaddrmsg({ family: o.v6 ? 10 : 2, prefixlen: o.prefix, flags: o.flags, scope: o.scope, index: o.index, attrs });
  return message({ type: o.type ?? 20, seq: o.seq, pid: o.pid, flags: o.nlflags }, body);
}

export const done = (seq = 0, pid = 0): Uint8Array => message({ type: 3, flags: 2, seq, pid }, u32(0));
export function nlerror(errno: number, seq = 0, pid = 0): Uint8Array {
  const b = new Uint8Array(4 + 16);
  new DataView(b.buffer).setInt32(0, -errno, true);
  return message({ type: 2, seq, pid }, b);
}
