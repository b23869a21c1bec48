import { describe, expect, test } from "bun:test";
import { NetTable } from "../../../src/collectors/network/table.ts";
import type { AddrMessage, LinkMessage } from "../../../src/collectors/network/rtnetlink.ts";

const link = (ifindex: number, name: string, o: Partial<LinkMessage> = {}): LinkMessage => ({
  op: "new", ifindex, name, mac: "00:16:3e:00:00:01", master: null, operstate: "up", ...o,
});
const v4 = (ifindex: number, address: string, o: Partial<AddrMessage> = {}): AddrMessage => ({
  op: "new", ifindex, family: "ipv4", address, peer: null, prefixLength: 24, scope: "global", flags: 0x80, ...o,
});
const v6 = (ifindex: number, address: string, o: Partial<AddrMessage> = {}): AddrMessage => ({
  op: "new", ifindex, family: "ipv6", address, peer: null, prefixLength: 64, scope: "global", flags: 0x80, ...o,
});
const addrs = (t: NetTable, ifindex: number): string[] =>
  t.facts().interfaces.find((i) => i.ifindex === ifindex)?.addresses.map((a) => a.address) ?? [];

describe("events", () => {
  test("new link, rename keeps the ifindex and reports an identity change", () => {
    const t = new NetTable();
    expect(t.applyLink(link(2, "eth0"))).toEqual({ changed: true, identity: true });
    expect(t.applyLink(link(2, "eth0"))).toEqual({ changed: false, identity: false });
    expect(t.applyLink(link(2, "wan"))).toEqual({ changed: true, identity: true });
    expect(t.applyLink(link(2, "wan", { operstate: "down" }))).toEqual({ changed: true, identity: false });
    expect(t.facts().interfaces.map((i) => [i.ifindex, i.name, i.operstate])).toEqual([[2, "wan", "down"]]);
  });

  test("delete drops the link and its addresses; re-create starts empty", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v4(2, "192.0.2.1"));
    t.applyLink({ ...link(2, "eth0"), op: "del" });
    expect(t.facts().interfaces).toEqual([]);
    t.applyLink(link(2, "eth0"));
    expect(addrs(t, 2)).toEqual([]);
  });

  test("IPv4 before IPv6; IPv4 primaries before secondaries; IPv6 newest first within a scope", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v6(2, "fe80::1", { scope: "link" }));
    t.applyAddr(v6(2, "2001:db8::1"));
    t.applyAddr(v6(2, "2001:db8::2"));
    t.applyAddr(v4(2, "192.0.2.1"));
    t.applyAddr(v4(2, "192.0.2.2", { flags: 0x81 })); // secondary
    t.applyAddr(v4(2, "198.51.100.1")); // another primary: before the secondary
    expect(addrs(t, 2)).toEqual(["192.0.2.1", "198.51.100.1", "192.0.2.2", "2001:db8::2", "2001:db8::1", "fe80::1"]);
  });

  test("an IPv4 host-scope primary goes first", () => {
    const t = new NetTable();
    t.applyLink(link(1, "lo"));
    t.applyAddr(v4(1, "10.9.9.9", { prefixLength: 32 }));
    t.applyAddr(v4(1, "127.0.0.1", { prefixLength: 8, scope: "host" }));
    expect(addrs(t, 1)).toEqual(["127.0.0.1", "10.9.9.9"]);
  });

  test("a re-announcement changes nothing; a flag change keeps the place", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    expect(t.applyAddr(v6(2, "2001:db8::1", { flags: 0x40 }))).toBe(true);
    t.applyAddr(v6(2, "2001:db8::2"));
    expect(t.applyAddr(v6(2, "2001:db8::2"))).toBe(false);
    expect(t.applyAddr(v6(2, "2001:db8::1", { flags: 0x80 }))).toBe(true);
    expect(addrs(t, 2)).toEqual(["2001:db8::2", "2001:db8::1"]);
    expect(t.facts().interfaces[0]!.addresses[1]!.tentative).toBe(false);
  });

  test("same IPv4 address with two prefixes is two addresses", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v4(2, "10.0.0.1", { prefixLength: 24 }));
    t.applyAddr(v4(2, "10.0.0.1", { prefixLength: 16 }));
    t.applyAddr({ ...v4(2, "10.0.0.1", { prefixLength: 24 }), op: "del" });
    expect(t.facts().interfaces[0]!.addresses.map((a) => a.prefixLength)).toEqual([16]);
  });

  test("a promoted IPv4 secondary moves to the primaries", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v4(2, "10.0.0.1"));
    t.applyAddr(v4(2, "10.1.0.1"));
    t.applyAddr(v4(2, "10.0.0.2", { flags: 0x81 }));
    t.applyAddr({ ...v4(2, "10.0.0.1"), op: "del" });
    t.applyAddr(v4(2, "10.0.0.2")); // promote_secondaries
    expect(addrs(t, 2)).toEqual(["10.1.0.1", "10.0.0.2"]);
  });

  test("IPv6 temporary flag shares bit 0 with IPv4 secondary", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v6(2, "2001:db8::abcd", { flags: 0x01 | 0x20 }));
    t.applyAddr(v4(2, "10.0.0.2", { flags: 0x01 }));
    const [a4, a6] = t.facts().interfaces[0]!.addresses;
    expect([a4!.temporary, a6!.temporary, a6!.deprecated]).toEqual([false, true, true]);
  });

  test("addresses of an unknown ifindex are kept until the link shows up", () => {
    const t = new NetTable();
    t.applyAddr(v4(5, "10.5.0.1"));
    expect(t.facts().interfaces).toEqual([]);
    t.applyLink(link(5, "eth5"));
    expect(addrs(t, 5)).toEqual(["10.5.0.1"]);
  });
});

describe("dumps reconcile", () => {
  test("links absent from a dump are removed with their addresses", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyLink(link(3, "eth1"));
    t.applyAddr(v4(3, "10.0.0.3"));
    t.beginDump("links");
    t.applyLink(link(2, "eth0"));
    expect(t.endDump("links")).toBe(true);
    expect(t.facts().interfaces.map((i) => i.name)).toEqual(["eth0"]);
  });

  test("a link created by an event during the dump survives the sweep", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.beginDump("links");
    t.applyLink(link(2, "eth0"));
    t.applyLink(link(9, "new0")); // event, after the dump passed ifindex 9's slot
    t.endDump("links");
    expect(t.facts().interfaces.map((i) => i.ifindex)).toEqual([2, 9]);
  });

  test("addresses take the dump's order; stale ones go; event-added ones stay", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    for (const a of ["2001:db8::1", "2001:db8::2", "2001:db8::3"]) t.applyAddr(v6(2, a));
    t.beginDump("addrs");
    t.applyAddr(v6(2, "2001:db8::1"), true);
    t.applyAddr(v6(2, "2001:db8::3"), true);
    t.applyAddr(v6(2, "2001:db8::9")); // event during the dump
    expect(t.endDump("addrs")).toBe(true);
    expect(addrs(t, 2)).toEqual(["2001:db8::9", "2001:db8::1", "2001:db8::3"]);
  });

  test("an identical dump changes nothing", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v4(2, "10.0.0.1"));
    t.applyAddr(v6(2, "2001:db8::1"));
    const before = JSON.stringify(t.facts());
    t.beginDump("addrs");
    expect(t.applyAddr(v4(2, "10.0.0.1"), true)).toBe(false);
    expect(t.applyAddr(v6(2, "2001:db8::1"), true)).toBe(false);
    expect(t.endDump("addrs")).toBe(false);
    expect(JSON.stringify(t.facts())).toBe(before);
  });

  test("an aborted dump removes nothing", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    t.applyAddr(v4(2, "10.0.0.1"));
    t.beginDump("addrs");
    t.abortDump("addrs");
    t.beginDump("links");
    t.abortDump("links");
    expect(t.endDump("addrs") || t.endDump("links")).toBe(false);
    expect(addrs(t, 2)).toEqual(["10.0.0.1"]);
  });

  test("toolstack survives updates and is kept per ifindex", () => {
    const t = new NetTable();
    t.applyLink(link(2, "eth0"));
    expect(t.setToolstack(2, { kind: "vif", id: 0 })).toBe(true);
    expect(t.setToolstack(2, { kind: "vif", id: 0 })).toBe(false);
    t.applyLink(link(2, "eth0", { operstate: "down" }));
    expect(t.facts().interfaces[0]!.toolstack).toEqual({ kind: "vif", id: 0 });
  });
});
