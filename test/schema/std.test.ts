import { describe, expect, test } from "bun:test";
import { splitVersion, stdTree, versionNumbers } from "../../src/schema/std.ts";
import { BASE_FACTS, v4, v6, vif } from "../support/facts.ts";
import { readGuestMetrics } from "../support/xapi-reader.ts";

const GOLDEN = {
  "data/os_distro": "ubuntu",
  "data/os_name": "Ubuntu 22.04.4 LTS",
  "data/os_majorver": "22",
  "data/os_minorver": "04",
  "data/os_uname": "5.15.0-100-generic",
  "data/meminfo_total": "4028380",
  "data/meminfo_free": "3501224",
  "data/host_name_dns": "web1",
  "data/domain": "example.org",
  "attr/PVAddons/Installed": "1",
  "attr/PVAddons/MajorVersion": "1",
  "attr/PVAddons/MinorVersion": "2",
  "attr/PVAddons/MicroVersion": "3",
  "attr/PVAddons/BuildVersion": "42",
  "attr/vif/0": "",
  "attr/vif/0/ipv4/0": "10.0.0.2",
  "attr/vif/0/ipv6/0": "2001:db8::2",
  "attr/vif/0/ipv6/1": "fe80::216:3eff:fe00:1",
  "feature/hotplug/vif": "1",
  "feature/hotplug/vbd": "1",
  "control/feature-balloon": "1",
};

describe("std schema", () => {
  const eth0 = vif(0, "eth0", [v6("fe80::216:3eff:fe00:1"), v4("10.0.0.2"), v6("2001:db8::2")]);

  test("golden tree", () => {
    const { tree } = stdTree(BASE_FACTS, [eth0], new Map(), { extended: false });
    expect(Object.fromEntries(tree)).toEqual(GOLDEN);
  });

  test("XAPI recovers the guest metrics", () => {
    const { tree } = stdTree(BASE_FACTS, [eth0, vif(1, "eth1", [v4("192.168.1.5"), v4("192.168.1.6")])], new Map(), { extended: false });
    const m = readGuestMetrics(tree);
    expect(m.hasPvDrivers).toBe(true);
    expect(m.pvDriversVersion).toEqual({ major: 1, minor: 2, micro: 3, build: 42 });
    expect(m.osVersion).toEqual({ name: "Ubuntu 22.04.4 LTS", uname: "5.15.0-100-generic", distro: "ubuntu", major: "22", minor: "04" });
    expect(m.hostName).toBe("web1.example.org");
    expect(m.networks).toEqual({
      "0/ip": "10.0.0.2", "0/ipv4/0": "10.0.0.2", "0/ipv6/0": "2001:db8::2", "0/ipv6/1": "fe80::216:3eff:fe00:1",
      "1/ip": "192.168.1.5", "1/ipv4/0": "192.168.1.5", "1/ipv4/1": "192.168.1.6",
    });
    expect(m.other).toEqual({ "feature-balloon": "1" });
    expect([m.canUseHotplugVif, m.canUseHotplugVbd]).toEqual(["yes", "yes"]);
  });

  test("extended keys follow xenstore-paths and XAPI still reads the addresses", () => {
    const { tree } = stdTree(BASE_FACTS, [eth0], new Map(), { extended: true });
    expect(tree.get("attr/vif/0/name")).toBe("eth0");
    expect(tree.get("attr/vif/0/mac/0")).toBe("00:16:3e:00:00:00");
    expect(tree.get("attr/vif/0/ipv4/0/prefix")).toBe("24");
    expect(tree.get("attr/vif/0/ipv6/0/prefix")).toBe("64");
    expect(readGuestMetrics(tree).networks["0/ip"]).toBe("10.0.0.2");
  });

  test("SR-IOV VFs go under xenserver/attr", () => {
    const vf = { ...vif(0, "eth2", [v4("10.9.0.2")]), toolstack: { kind: "sriov-vf" as const, id: 3 } };
    const { tree } = stdTree(BASE_FACTS, [vf], new Map(), { extended: false });
    expect(tree.get("xenserver/attr/net-sriov-vf/3/ipv4/0")).toBe("10.9.0.2");
    expect(readGuestMetrics(tree).networks["3/ip"]).toBe("10.9.0.2");
  });

  test("non-toolstack interfaces are not published", () => {
    const other = { ...vif(0, "br0", [v4("10.0.0.9")]), toolstack: { kind: "none" as const } };
    const { tree } = stdTree(BASE_FACTS, [other], new Map(), { extended: false });
    expect([...tree.keys()].some((k) => k.startsWith("attr/vif"))).toBe(false);
  });

  test("slots carry over: a removed address frees its index, the rest stay", () => {
    const first = stdTree(BASE_FACTS, [vif(0, "eth0", [v4("10.0.0.2"), v4("10.0.0.3"), v4("10.0.0.4")])], new Map(), { extended: false });
    const second = stdTree(BASE_FACTS, [vif(0, "eth0", [v4("10.0.0.4"), v4("10.0.0.2")])], first.slots, { extended: false });
    expect(second.tree.get("attr/vif/0/ipv4/0")).toBe("10.0.0.2");
    expect(second.tree.get("attr/vif/0/ipv4/2")).toBe("10.0.0.4");
    expect(second.tree.has("attr/vif/0/ipv4/1")).toBe(false);
    const third = stdTree(BASE_FACTS, [vif(0, "eth0", [v4("10.0.0.4"), v4("10.0.0.2"), v4("10.0.0.7")])], second.slots, { extended: false });
    expect(third.tree.get("attr/vif/0/ipv4/1")).toBe("10.0.0.7");
  });

  test("a guest without os-release still gets sensible values", () => {
    const facts = { ...BASE_FACTS, os: { id: "linux", name: "", prettyName: "Linux", versionId: "", kernelRelease: "6.1.0" } };
    const { tree } = stdTree(facts, [], new Map(), { extended: false });
    expect([tree.get("data/os_distro"), tree.get("data/os_name"), tree.get("data/os_majorver"), tree.get("data/os_uname")]).toEqual(["linux", "Linux", "unknown", "6.1.0"]);
  });

  test("hostile values are made printable and cut", () => {
    const facts = { ...BASE_FACTS, os: { ...BASE_FACTS.os!, prettyName: `Evil\u0000\u00e9\n${"x".repeat(5000)}` } };
    const name = stdTree(facts, [], new Map(), { extended: false }).tree.get("data/os_name")!;
    expect(name.startsWith("Evil???x")).toBe(true);
    expect(name.length).toBe(1024);
  });
});

test.each([
  ["22.04", ["22", "04"]],
  ["12", ["12", "0"]],
  ["3.19.1", ["3", "19"]],
  ["", ["unknown", "unknown"]],
  ["rolling.", ["rolling", "0"]],
])("splitVersion(%p)", (input, expected) => {
  expect(splitVersion(input)).toEqual(expected as [string, string]);
});

test.each([
  ["1.2.3", [1, 2, 3]],
  ["1.3.0-rc.1", [1, 3, 0]],
  ["2", [2, 0, 0]],
  ["x.y", [0, 0, 0]],
])("versionNumbers(%p)", (input, expected) => {
  expect(versionNumbers(input)).toEqual(expected as [number, number, number]);
});
