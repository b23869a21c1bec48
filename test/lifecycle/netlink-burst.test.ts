// Netlink overrun end to end: 10 000 address changes in one burst inside a network namespace, with
// a receive buffer small enough to overrun. The collector re-dumps; the published tree must end
// equal to the kernel's state (`ip -j addr`) through the rfc schema. Needs root and `ip netns`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { withNetns } from "../support/native/test-libc.ts";
import type { NetworkFacts } from "../../src/facts/facts.ts";
import { announceSkip, comparable, netnsUnavailable, TestNetns } from "../collectors/network/support/netns.ts";
import { Harness } from "./support.ts";

const skip = announceSkip("netlink burst through the supervised agent (netns)", netnsUnavailable());

describe.skipIf(skip)("10 000 netlink changes in one burst", () => {
  let ns: TestNetns;
  let h: Harness;

  beforeAll(async () => {
    ns = new TestNetns("lcburst");
    ns.ip("link", "add", "fa", "type", "veth", "peer", "name", "fb");
    ns.ip("link", "set", "fa", "up");
    ns.ip("link", "set", "fb", "up");
    // Deleting a primary promotes a secondary instead of deleting the whole subnet.
    ns.sysctl("net.ipv4.conf.fa.promote_secondaries", "1");
    h = new Harness({
      cli: { schema: "rfc", include: "fa,fb", "coalesce-ms": 10 },
      server: { limits: { nodesPerDomain: 100_000 } },
      supervisor: {
        sources: {
          network: { receiveBufferBytes: 4096 },
          startNetwork: (c) => withNetns(ns.name, () => c.start()),
        },
      },
    });
    await h.start();
    await h.converged();
  });

  afterAll(async () => {
    await h?.stop();
    ns?.delete();
  });

  test("overrun, re-dump, and the published tree equals the kernel's state", async () => {
    const lines: string[] = [];
    // 5050 additions, 4950 removals: 10 000 changes, 50 + 50 addresses left (a guest's xenstore
    // directory holds about a hundred children: C xenstored's 2048-byte node record).
    for (let i = 0; i < 2525; i++) lines.push(`addr add 10.${100 + (i >> 8)}.${i & 255}.1/16 dev fa`);
    for (let i = 0; i < 2525; i++) lines.push(`addr add 2001:db8:${i.toString(16)}::1/64 dev fb nodad`);
    for (let i = 0; i < 2475; i++) lines.push(`addr del 10.${100 + (i >> 8)}.${i & 255}.1/16 dev fa`);
    for (let i = 0; i < 2475; i++) lines.push(`addr del 2001:db8:${i.toString(16)}::1/64 dev fb`);
    expect(lines).toHaveLength(10_000);
    ns.batch(lines);
    const want = JSON.stringify(ns.oracle());
    const network = (): NetworkFacts | undefined => h.sup.current?.pipeline.snapshot().network;
    // Wait for the agent's facts to equal the kernel's, then for the tree to equal the facts.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`facts never equalled ip -j addr; have ${JSON.stringify(comparable(network() ?? { interfaces: [] })).slice(0, 300)}`)), 60_000);
      const check = (): void => {
        const n = network();
        if (n && JSON.stringify(comparable(n)) === want) {
          clearTimeout(timer);
          h.sup.events.published = prev;
          resolve();
        }
      };
      const prev = h.sup.events.published;
      h.sup.events.published = (r) => {
        prev?.(r);
        check();
      };
      check();
    });
    await h.converged(30_000);
    expect(h.sup.current?.networkStats().overruns).toBeGreaterThan(0);
    const published = [...h.published().keys()].filter((k) => k.startsWith("data/net/"));
    expect(published.filter((k) => /\/ipv[46]\/[^/]+$/.test(k)).length).toBeGreaterThanOrEqual(100);
    expect(h.sup.state).toBe("connected");
  }, 120_000);
});
