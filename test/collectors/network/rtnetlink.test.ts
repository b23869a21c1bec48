import { describe, expect, test } from "bun:test";
import { decodeChunk, encodeDumpRequest, RTM_GETADDR, RTM_GETLINK, type Message } from "../../../src/collectors/network/rtnetlink.ts";
import { formatIpv6 } from "../../../src/collectors/network/ip-text.ts";
import { attr, concat, done, ifaddrmsg, ifinfomsg, IFA, IFLA, ipv4, ipv6, message, newAddr, newLink, nlerror, u32 } from "./support/marshal.ts";

const MAC = [0x00, 0x16, 0x3e, 0x0a, 0xbb, 0xcc];

/** Only the fields a case asserts on. */
function one(bytes: Uint8Array): Message {
  const msgs = decodeChunk(bytes);
  expect(msgs).toHaveLength(1);
  return msgs[0]!;
}

describe("links", () => {
  const cases: { name: string; bytes: Uint8Array; want: unknown }[] = [
    {
      name: "new link with name, MAC, operstate up",
      bytes: newLink({ index: 2, name: "eth0", mac: MAC }),
      want: { kind: "link", link: { op: "new", ifindex: 2, name: "eth0", mac: "00:16:3e:0a:bb:cc", master: null, operstate: "up" } },
    },
    {
      name: "enslaved link reports its master",
      bytes: newLink({ index: 3, name: "eth1", mac: MAC, master: 7, oper: 2 }),
      want: { kind: "link", link: { ifindex: 3, master: 7, operstate: "down" } },
    },
    {
      name: "link without hardware address (tun) has mac null",
      bytes: newLink({ index: 4, name: "tun0", oper: 0 }),
      want: { kind: "link", link: { mac: null, operstate: "unknown" } },
    },
    {
      name: "lowerlayerdown and dormant spelled like ip",
      bytes: newLink({ index: 5, name: "v", oper: 3 }),
      want: { kind: "link", link: { operstate: "lowerlayerdown" } },
    },
    {
      name: "delete",
      bytes: newLink({ index: 2, name: "eth0", type: 17 }),
      want: { kind: "link", link: { op: "del", ifindex: 2 } },
    },
    {
      name: "AF_BRIDGE port notification is ignored (a DELLINK there is not a deletion)",
      bytes: newLink({ index: 3, name: "eth1", family: 7, type: 17 }),
      want: { kind: "ignored" },
    },
    {
      name: "wireless extension event is ignored",
      bytes: message({ type: 16 }, ifinfomsg({ index: 2, attrs: [attr(IFLA.IFNAME, "wlan0"), attr(IFLA.WIRELESS, [1, 2, 3, 4])] })),
      want: { kind: "ignored", reason: "wireless event" },
    },
    {
      name: "unknown attributes and nested flag bits are skipped",
      bytes: message({ type: 16 }, ifinfomsg({ index: 9, attrs: [attr(0x8000 | 26, [0, 0, 0, 0]), attr(999, [1]), attr(IFLA.IFNAME, "x9")] })),
      want: { kind: "link", link: { ifindex: 9, name: "x9" } },
    },
    {
      name: "new link without IFLA_IFNAME is malformed",
      bytes: message({ type: 16 }, ifinfomsg({ index: 9, attrs: [attr(IFLA.MTU, u32(1500))] })),
      want: { kind: "malformed" },
    },
    {
      name: "short ifinfomsg is malformed",
      bytes: message({ type: 16 }, new Uint8Array(8)),
      want: { kind: "malformed", reason: "short ifinfomsg" },
    },
    {
      name: "attribute longer than the message is malformed",
      bytes: (() => {
        const m = newLink({ index: 2, name: "eth0" });
        new DataView(m.buffer).setUint16(32, 0x400, true); // first rtattr's length
        return m;
      })(),
      want: { kind: "malformed" },
    },
  ];
  for (const c of cases) test(c.name, () => expect(one(c.bytes)).toMatchObject(c.want as object));
});

describe("addresses", () => {
  const cases: { name: string; bytes: Uint8Array; want: unknown }[] = [
    {
      name: "IPv4 from IFA_LOCAL",
      bytes: newAddr({ index: 2, addr: "192.0.2.10", prefix: 24 }),
      want: { kind: "addr", addr: { op: "new", ifindex: 2, family: "ipv4", address: "192.0.2.10", peer: null, prefixLength: 24, scope: "global", flags: 0 } },
    },
    {
      name: "IPv4 point-to-point: IFA_ADDRESS is the peer",
      bytes: newAddr({ index: 2, addr: "10.0.0.1", peer: "10.0.0.2", prefix: 32 }),
      want: { kind: "addr", addr: { address: "10.0.0.1", peer: "10.0.0.2" } },
    },
    {
      name: "IPv6 from IFA_ADDRESS, RFC 5952 text, link scope",
      bytes: newAddr({ index: 2, v6: true, addr: "fe80::216:3eff:fe0a:bbcc", prefix: 64, scope: 253, flags: 0x80 }),
      want: { kind: "addr", addr: { family: "ipv6", address: "fe80::216:3eff:fe0a:bbcc", prefixLength: 64, scope: "link", flags: 0x80 } },
    },
    {
      name: "IFA_FLAGS (32 bits) overrides the header byte",
      bytes: newAddr({ index: 2, v6: true, addr: "2001:db8::1", prefix: 64, flags: 0x40, flags32: 0x200 | 0x20 }),
      want: { kind: "addr", addr: { flags: 0x220 } },
    },
    {
      name: "header flags when IFA_FLAGS is absent (pre-3.14 kernels)",
      bytes: newAddr({ index: 2, v6: true, addr: "2001:db8::1", prefix: 64, flags: 0x40 }),
      want: { kind: "addr", addr: { flags: 0x40 } },
    },
    {
      name: "host and site scopes",
      bytes: newAddr({ index: 1, addr: "127.0.0.1", prefix: 8, scope: 254 }),
      want: { kind: "addr", addr: { scope: "host" } },
    },
    {
      name: "delete",
      bytes: newAddr({ index: 2, addr: "192.0.2.10", prefix: 24, type: 21 }),
      want: { kind: "addr", addr: { op: "del", address: "192.0.2.10" } },
    },
    {
      name: "other address family ignored",
      bytes: message({ type: 20 }, ifaddrmsg({ family: 28, prefixlen: 0, index: 2, attrs: [] })),
      want: { kind: "ignored" },
    },
    {
      name: "IPv4 attribute of the wrong size is malformed",
      bytes: message({ type: 20 }, ifaddrmsg({ family: 2, prefixlen: 24, index: 2, attrs: [attr(IFA.LOCAL, [1, 2, 3])] })),
      want: { kind: "malformed" },
    },
    {
      name: "address message without any address is malformed",
      bytes: message({ type: 20 }, ifaddrmsg({ family: 10, prefixlen: 64, index: 2, attrs: [attr(IFA.LABEL, "x")] })),
      want: { kind: "malformed" },
    },
    {
      name: "prefix longer than the family allows is malformed",
      bytes: message({ type: 20 }, ifaddrmsg({ family: 2, prefixlen: 33, index: 2, attrs: [attr(IFA.LOCAL, ipv4("1.2.3.4"))] })),
      want: { kind: "malformed" },
    },
  ];
  for (const c of cases) test(c.name, () => expect(one(c.bytes)).toMatchObject(c.want as object));
});

describe("framing", () => {
  test("several datagrams in one chunk, multipart dump ending in NLMSG_DONE", () => {
    const chunk = concat(
      newLink({ index: 1, name: "lo", flags: 2, seq: 7, pid: 42 }),
      newLink({ index: 2, name: "eth0", flags: 2, seq: 7, pid: 42 }),
      done(7, 42),
    );
    const msgs = decodeChunk(chunk);
    expect(msgs.map((m) => m.kind)).toEqual(["link", "link", "done"]);
    expect(msgs[2]!.kind === "done" && msgs[2]!.header).toMatchObject({ seq: 7, pid: 42, flags: 2 });
  });

  test("NLMSG_ERROR carries a positive errno", () => {
    expect(one(nlerror(16, 3, 9))).toMatchObject({ kind: "error", errno: 16, header: { seq: 3, pid: 9 } });
  });

  test("unknown message type is ignored, the next one still decodes", () => {
    const msgs = decodeChunk(concat(message({ type: 24 }, new Uint8Array(12)), newLink({ index: 2, name: "eth0" })));
    expect(msgs.map((m) => m.kind)).toEqual(["ignored", "link"]);
  });

  test("a malformed message does not stop the next one", () => {
    const msgs = decodeChunk(concat(message({ type: 20 }, new Uint8Array(3)), newLink({ index: 2, name: "eth0" })));
    expect(msgs.map((m) => m.kind)).toEqual(["malformed", "link"]);
  });

  test("truncated last message ends the chunk with one malformed entry", () => {
    const full = concat(newLink({ index: 2, name: "eth0" }), newLink({ index: 3, name: "eth1" }));
    const msgs = decodeChunk(full.subarray(0, full.length - 10));
    expect(msgs.map((m) => m.kind)).toEqual(["link", "malformed"]);
  });

  test("nlmsg_len below the header size ends the chunk", () => {
    const bad = new Uint8Array(20);
    new DataView(bad.buffer).setUint32(0, 8, true);
    expect(decodeChunk(bad).map((m) => m.kind)).toEqual(["malformed"]);
  });

  test("trailing bytes shorter than a header are reported", () => {
    expect(decodeChunk(concat(done(), new Uint8Array(8))).map((m) => m.kind)).toEqual(["done", "malformed"]);
  });

  test("chunk that is a view into a larger buffer", () => {
    const big = concat(new Uint8Array(12), newLink({ index: 2, name: "eth0" }));
    expect(one(big.subarray(12))).toMatchObject({ kind: "link", link: { name: "eth0" } });
  });

  test("dump requests: RTM_GETLINK 32 bytes, RTM_GETADDR 24 bytes, REQUEST|DUMP", () => {
    const l = encodeDumpRequest(RTM_GETLINK, 5);
    const a = encodeDumpRequest(RTM_GETADDR, 6);
    const v = new DataView(l.buffer);
    expect([l.length, v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true), v.getUint32(8, true)]).toEqual([32, 32, 18, 0x301, 5]);
    expect([a.length, new DataView(a.buffer).getUint16(4, true)]).toEqual([24, 22]);
  });
});

describe("RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group is not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["2001:DB8:0:0:0:0:0:ABCD", "2001:db8::abcd"],
    ["0:0:0:0:0:ffff:c000:0280", "::ffff:192.0.2.128"],
  ];
  for (const [input, want] of cases) test(`${input} → ${want}`, () => expect(formatIpv6(ipv6(input))).toBe(want));
});
