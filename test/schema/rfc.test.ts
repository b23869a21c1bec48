import { expect, test } from "bun:test";
import { addressKey, rfcTree } from "../../src/schema/rfc.ts";
import { BASE_FACTS, v4, v6, vif } from "../support/facts.ts";

test("golden rfc tree: the interface name stays the node value, the MAC is its own key", () => {
  const br0 = { ifindex: 7, name: "br0", mac: "02:00:00:00:00:07", operstate: "up", toolstack: { kind: "none" as const }, addresses: [v4("10.1.0.1", 16)] };
  const tree = rfcTree(BASE_FACTS, [vif(0, "eth0", [v4("10.0.0.2"), v6("fe80::1")]), br0]);
  expect(Object.fromEntries(tree)).toEqual({
    "data/xen-guest-agent": "1.2.3",
    "data/os/name": "Ubuntu 22.04.4 LTS",
    "data/os/version": "22.04",
    "data/os/class": "unix",
    "data/os/unix/kernel-version": "5.15.0-100-generic",
    "data/os/unix/distro": "ubuntu",
    "data/memory/total-kib": "4028380",
    "data/memory/available-kib": "3501224",
    "data/host/name": "web1",
    "data/host/domain": "example.org",
    "data/net/2": "eth0",
    "data/net/2/mac": "00:16:3e:00:00:00",
    "data/net/2/operstate": "up",
    "data/net/2/vif": "0",
    "data/net/2/ipv4/10_0_0_2": "24",
    "data/net/2/ipv6/fe80__1": "64",
    "data/net/7": "br0",
    "data/net/7/mac": "02:00:00:00:00:07",
    "data/net/7/operstate": "up",
    "data/net/7/ipv4/10_1_0_1": "16",
  });
});

test.each([
  ["192.168.0.1", "192_168_0_1"],
  ["fe80::1", "fe80__1"],
  ["2001:db8::a:b", "2001_db8__a_b"],
])("addressKey(%p)", (a, k) => expect(addressKey(a)).toBe(k));
