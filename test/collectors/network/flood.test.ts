// Overrun: a tiny receive buffer and thousands of changes while the event loop is blocked (spawnSync)
// make the kernel drop events (ENOBUFS). The collector must re-dump and end up equal to the kernel.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { withNetns } from "../../support/native/test-libc.ts";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import { NetworkCollector } from "../../../src/collectors/network/collector.ts";
import { announceSkip, collectingLogger, converge, iface, netnsUnavailable, TestNetns, waitFor } from "./support/netns.ts";

const skip = announceSkip("rtnetlink overrun (netns)", netnsUnavailable());

describe.skipIf(skip)("ENOBUFS flood", () => {
  let ns: TestNetns;
  let c: NetworkCollector;
  const log = collectingLogger();

  beforeAll(async () => {
    ns = new TestNetns("flood");
    ns.ip("link", "add", "fa", "type", "veth", "peer", "name", "fb");
    ns.ip("link", "set", "fa", "up");
    ns.ip("link", "set", "fb", "up");
    // Deleting a primary then promotes a secondary instead of deleting the whole subnet.
    ns.sysctl("net.ipv4.conf.fa.promote_secondaries", "1");
    // 4 KiB asked (the kernel doubles it): room for a handful of notifications.
    c = new NetworkCollector({ root: new HostRoot("/nonexistent"), log, receiveBufferBytes: 4096 });
    await withNetns(ns.name, () => c.start());
    // Addresses added before link-watch has marked the link ready would stay tentative until then.
    await waitFor(c, (f) => iface(f, "fa")?.operstate === "up" && iface(f, "fb")?.operstate === "up", 5000, "links up");
  });

  afterAll(() => {
    c?.stop();
    ns?.delete();
  });

  test("2000 addresses added with ip -batch: overrun, re-dump, facts equal ip -j addr", async () => {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) lines.push(`addr add 10.${100 + (i >> 8)}.${i & 255}.1/16 dev fa`);
    for (let i = 0; i < 1000; i++) lines.push(`addr add 2001:db8:${i.toString(16)}::1/64 dev fb`);
    ns.batch(lines);
    const f = await converge(c, ns, 30_000);
    expect(c.stats().overruns).toBeGreaterThan(0);
    expect(iface(f, "fa")!.addresses.filter((a) => a.family === "ipv4")).toHaveLength(1000);
    expect(iface(f, "fb")!.addresses.filter((a) => a.family === "ipv6")).toHaveLength(1000 + 1); // + link-local
  }, 60_000);

  test("removals and a rename lost in an overrun are reconciled", async () => {
    const overruns = c.stats().overruns;
    const lines: string[] = [];
    for (let i = 0; i < 1000; i += 2) lines.push(`addr del 10.${100 + (i >> 8)}.${i & 255}.1/16 dev fa`);
    for (let i = 0; i < 1000; i += 3) lines.push(`addr del 2001:db8:${i.toString(16)}::1/64 dev fb`);
    lines.push("link set fb down", "link set fb name fz", "link set fz up");
    ns.batch(lines);
    const f = await converge(c, ns, 30_000);
    expect(c.stats().overruns).toBeGreaterThan(overruns);
    expect(iface(f, "fz")).toBeDefined();
    expect(iface(f, "fb")).toBeUndefined();
  }, 60_000);

  test("overruns are logged as info, nothing malformed", () => {
    expect(c.stats().malformed).toBe(0);
    expect(log.lines.some((l) => l.level === "info" && l.message.includes("overrun"))).toBe(true);
    expect(log.lines.filter((l) => l.level === "warn" || l.level === "error")).toEqual([]);
  });
});
