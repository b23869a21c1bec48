import { describe, expect, test } from "bun:test";
import type { NetAddress, NetInterface, NetworkFacts, Toolstack } from "../../src/facts/facts.ts";
import { decide, DEFAULT_EXCLUDE, globMatch, type InterfacePolicy, reportedInterfaces } from "../../src/schema/interfaces.ts";

const addr = (address: string, o: Partial<NetAddress> = {}): NetAddress => ({
  family: address.includes(":") ? "ipv6" : "ipv4", address, prefixLength: address.includes(":") ? 64 : 24,
  scope: address.startsWith("fe80") ? "link" : "global", temporary: false, deprecated: false, tentative: false, dadfailed: false, ...o,
});
const nic = (ifindex: number, name: string, o: Partial<NetInterface> = {}): NetInterface => ({
  ifindex, name, mac: "00:16:3e:00:00:0" + ifindex, master: null, operstate: "up", toolstack: { kind: "none" }, addresses: [], ...o,
});
const vif = (id: number): Toolstack => ({ kind: "vif", id });
const policy = (o: Partial<InterfacePolicy> = {}): InterfacePolicy => ({ include: [], exclude: [], linkLocal: true, ...o });

describe("globMatch", () => {
  const cases: [string, string, boolean][] = [
    ["eth0", "eth0", true], ["eth0", "eth1", false], ["eth*", "eth", true], ["eth*", "eth10", true],
    ["*", "", true], ["*", "anything", true], ["e?h0", "eth0", true], ["e?h0", "eh0", false],
    ["*0", "veth0", true], ["*a*b", "xaybzb", true], ["*a*b", "xaybz", false], ["br-*", "br0", false],
    ["a**b", "ab", true], ["?", "", false], ["lo", "lo0", false],
  ];
  for (const [p, n, want] of cases) test(`${p} ~ ${JSON.stringify(n)} → ${want}`, () => expect(globMatch(p, n)).toBe(want));
});

describe("which interfaces", () => {
  const cases: { name: string; iface: NetInterface; policy?: Partial<InterfacePolicy>; toolstackOnly?: boolean; want: boolean }[] = [
    { name: "std: a VIF is reported", iface: nic(2, "eth0", { toolstack: vif(0) }), toolstackOnly: true, want: true },
    { name: "std: an SR-IOV VF is reported", iface: nic(2, "ens5", { toolstack: { kind: "sriov-vf", id: 1 } }), toolstackOnly: true, want: true },
    { name: "std: a non-VIF is never reported, even included", iface: nic(3, "ens3"), policy: { include: ["*"] }, toolstackOnly: true, want: false },
    { name: "rfc: a plain NIC is reported", iface: nic(3, "ens3"), want: true },
    { name: "lo excluded by default", iface: nic(1, "lo"), want: false },
    { name: "docker0 excluded by default", iface: nic(4, "docker0"), want: false },
    { name: "veth excluded by default", iface: nic(5, "veth1234"), want: false },
    { name: "br-<id> excluded, br0 not", iface: nic(6, "br0"), want: true },
    { name: "kube-* excluded by default", iface: nic(7, "kube-ipvs0"), want: false },
    { name: "a VIF named like a default exclusion is still reported", iface: nic(2, "veth0", { toolstack: vif(0) }), toolstackOnly: true, want: true },
    { name: "the lead passing the defaults in `exclude` changes nothing for a VIF", iface: nic(2, "veth0", { toolstack: vif(0) }), policy: { exclude: [...DEFAULT_EXCLUDE] }, want: true },
    { name: "an explicit exclude drops a VIF", iface: nic(2, "eth0", { toolstack: vif(0) }), policy: { exclude: ["eth0"] }, toolstackOnly: true, want: false },
    { name: "explicit include overrides a default exclusion", iface: nic(4, "docker0"), policy: { include: ["docker0"] }, want: true },
    { name: "include '*' turns the defaults off", iface: nic(1, "lo"), policy: { include: ["*"] }, want: true },
    { name: "explicit exclude beats include", iface: nic(3, "eth2"), policy: { include: ["eth*"], exclude: ["eth2"] }, want: false },
    { name: "a non-empty include list is a whitelist", iface: nic(3, "ens3"), policy: { include: ["eth*"] }, want: false },
    { name: "…also for a VIF", iface: nic(3, "enX0", { toolstack: vif(0) }), policy: { include: ["eth*"] }, want: false },
  ];
  for (const c of cases) {
    test(c.name, () => expect(decide(c.iface, policy(c.policy), { toolstackOnly: c.toolstackOnly ?? false }).report).toBe(c.want));
  }
  test("every default pattern matches its example", () => {
    const examples = ["lo", "docker0", "veth1", "br-1a2b", "virbr0", "cali123", "cni0", "flannel.1", "cilium_host", "vxlan.calico", "kube-ipvs0", "tunl0", "antrea-gw0"];
    for (const [i, name] of examples.entries()) expect(decide(nic(i + 1, name), policy(), { toolstackOnly: false }).report).toBe(false);
  });
});

describe("which addresses", () => {
  const net = (...interfaces: NetInterface[]): NetworkFacts => ({ interfaces });
  const names = (r: { addresses: NetAddress[] }) => r.addresses.map((a) => a.address);

  test("tentative and DAD-failed addresses are never reported", () => {
    const n = net(nic(2, "eth0", { toolstack: vif(0), addresses: [addr("10.0.0.1"), addr("2001:db8::1", { tentative: true }), addr("2001:db8::2", { dadfailed: true })] }));
    expect(names(reportedInterfaces(n, policy(), { toolstackOnly: true })[0]!)).toEqual(["10.0.0.1"]);
  });

  test("IPv6 link-local by default; off on request; deprecated and temporary kept", () => {
    const n = net(nic(2, "eth0", { addresses: [addr("fe80::1"), addr("2001:db8::5", { temporary: true, deprecated: true })] }));
    expect(names(reportedInterfaces(n, policy(), { toolstackOnly: false })[0]!)).toEqual(["fe80::1", "2001:db8::5"]);
    expect(names(reportedInterfaces(n, policy({ linkLocal: false }), { toolstackOnly: false })[0]!)).toEqual(["2001:db8::5"]);
  });

  test("a bridged VIF reports the bridge's addresses after its own, in kernel order", () => {
    const n = net(
      nic(2, "eth0", { toolstack: vif(0), master: 3, addresses: [addr("fe80::216:3eff:fe00:2")] }),
      nic(3, "xenbr0", { addresses: [addr("192.0.2.5"), addr("192.0.2.6"), addr("2001:db8::7")] }),
    );
    const r = reportedInterfaces(n, policy(), { toolstackOnly: true });
    expect(r.map((i) => i.name)).toEqual(["eth0"]);
    expect(names(r[0]!)).toEqual(["fe80::216:3eff:fe00:2", "192.0.2.5", "192.0.2.6", "2001:db8::7"]);
  });

  test("VIF in a bond in a bridge; the master chain's own policy does not matter", () => {
    const n = net(
      nic(2, "eth0", { toolstack: vif(0), master: 4 }),
      nic(3, "eth1", { toolstack: vif(1), master: 4 }),
      nic(4, "bond0", { master: 5 }),
      nic(5, "br-lan", { addresses: [addr("10.0.0.9")] }),
    );
    const r = reportedInterfaces(n, policy(), { toolstackOnly: false });
    expect(r.map((i) => [i.name, names(i)])).toEqual([["eth0", ["10.0.0.9"]], ["eth1", ["10.0.0.9"]], ["bond0", ["10.0.0.9"]]]);
  });

  test("a master loop (corrupt facts) terminates", () => {
    const n = net(nic(2, "a", { master: 3, addresses: [addr("10.0.0.2")] }), nic(3, "b", { master: 2, addresses: [addr("10.0.0.3")] }));
    expect(names(reportedInterfaces(n, policy(), { toolstackOnly: false })[0]!)).toEqual(["10.0.0.2", "10.0.0.3"]);
  });

  test("an address on both the port and the master is listed once", () => {
    const n = net(nic(2, "eth0", { master: 3, addresses: [addr("10.0.0.1")] }), nic(3, "br0", { addresses: [addr("10.0.0.1")] }));
    expect(names(reportedInterfaces(n, policy(), { toolstackOnly: false })[0]!)).toEqual(["10.0.0.1"]);
  });

  test("reported fields and ifindex order", () => {
    const n = net(nic(2, "eth0", { toolstack: vif(0), operstate: "down" }), nic(7, "eth1", { toolstack: vif(3) }));
    expect(reportedInterfaces(n, policy(), { toolstackOnly: true })).toEqual([
      { ifindex: 2, name: "eth0", mac: "00:16:3e:00:00:02", operstate: "down", toolstack: vif(0), addresses: [] },
      { ifindex: 7, name: "eth1", mac: "00:16:3e:00:00:07", operstate: "up", toolstack: vif(3), addresses: [] },
    ]);
  });
});
