import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { withNetns } from "../../support/native/test-libc.ts";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import { NetworkCollector } from "../../../src/collectors/network/collector.ts";
import { ToolstackClassifier } from "../../../src/collectors/network/vif.ts";
import { announceSkip, collectingLogger, iface, netnsUnavailable, SysfsFixture, TestNetns, waitFor } from "./support/netns.ts";

describe("classifier on a fixture sysfs", () => {
  const fx = new SysfsFixture();
  fx.device("eth0", { devtype: "vif", nodename: "device/vif/0" });
  fx.device("enX12", { devtype: "vif", nodename: "device/vif/12" });
  fx.device("ens3", { devtype: "pci" });
  fx.device("bad1", { devtype: "vif", nodename: "device/vif/x1" });
  fx.device("bad2", { devtype: "vif" });
  fx.device("bad3", { devtype: "vif", nodename: "device/vbd/768" });
  afterAll(() => fx.remove());

  const cases: { name: string; ifname: string; mac?: string; want: unknown; warns?: boolean }[] = [
    { name: "netfront VIF", ifname: "eth0", want: { kind: "vif", id: 0 } },
    { name: "VIF named by the new scheme", ifname: "enX12", want: { kind: "vif", id: 12 } },
    { name: "emulated NIC is not a VIF", ifname: "ens3", want: { kind: "none" } },
    { name: "no device at all (veth, bridge)", ifname: "veth9", want: { kind: "none" } },
    { name: "non-numeric VIF id is logged, not fatal", ifname: "bad1", want: { kind: "none" }, warns: true },
    { name: "missing nodename is logged", ifname: "bad2", want: { kind: "none" }, warns: true },
    { name: "nodename of another device class", ifname: "bad3", want: { kind: "none" }, warns: true },
    { name: "SR-IOV VF found by MAC", ifname: "ens3", mac: "02:00:00:00:00:07", want: { kind: "sriov-vf", id: 7 } },
    { name: "a VIF wins over an SR-IOV MAC match", ifname: "eth0", mac: "02:00:00:00:00:07", want: { kind: "vif", id: 0 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const log = collectingLogger();
      const sriov = { vfIdForMac: (mac: string) => (mac === "02:00:00:00:00:07" ? 7 : undefined) };
      const k = new ToolstackClassifier(new HostRoot(fx.root), log, sriov);
      expect(k.classify(c.ifname, c.mac ?? null)).toEqual(c.want as never);
      k.classify(c.ifname, c.mac ?? null); // the second look logs nothing new
      expect(log.lines.filter((l) => l.level === "warn").length).toBe(c.warns ? 1 : 0);
    });
  }

  test("a failing SR-IOV lookup is logged and means none", () => {
    const log = collectingLogger();
    const k = new ToolstackClassifier(new HostRoot(fx.root), log, { vfIdForMac: () => { throw new Error("xenstore gone"); } });
    expect(k.classify("ens3", "02:00:00:00:00:01")).toEqual({ kind: "none" });
    expect(log.lines[0]!.message).toContain("xenstore gone");
  });
});

const skip = announceSkip("VIF detection (netns)", netnsUnavailable());

describe.skipIf(skip)("VIF detection follows renames and re-creation", () => {
  let ns: TestNetns;
  let c: NetworkCollector;
  const fx = new SysfsFixture();
  const vfs = new Map<string, number>();

  beforeAll(async () => {
    fx.device("eth0", { devtype: "vif", nodename: "device/vif/3" });
    ns = new TestNetns("vif");
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
    ns.ip("link", "set", "peer0", "address", "02:00:00:00:00:42");
    c = new NetworkCollector({ root: new HostRoot(fx.root), log: collectingLogger(), coalesceMs: 2, sriov: { vfIdForMac: (m) => vfs.get(m) } });
    await withNetns(ns.name, () => c.start());
  });

  afterAll(() => {
    c?.stop();
    ns?.delete();
    fx.remove();
  });

  const kindOf = (name: string) => (f: Parameters<typeof iface>[0]) => iface(f, name)?.toolstack;

  test("a VIF from the start", () => {
    expect(kindOf("eth0")(c.snapshot())).toEqual({ kind: "vif", id: 3 });
    expect(kindOf("peer0")(c.snapshot())).toEqual({ kind: "none" });
  });

  test("renamed away it is no longer a VIF; renamed back it is again", async () => {
    ns.ip("link", "set", "eth0", "name", "lan0");
    await waitFor(c, (f) => kindOf("lan0")(f)?.kind === "none", 5000, "lan0 not a VIF");
    ns.ip("link", "set", "lan0", "name", "eth0");
    await waitFor(c, (f) => kindOf("eth0")(f)?.kind === "vif", 5000, "eth0 a VIF again");
  });

  test("deleted and re-created under the same name, with another VIF id", async () => {
    fx.device("eth0", { devtype: "vif", nodename: "device/vif/5" });
    ns.ip("link", "del", "eth0");
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
    ns.ip("link", "set", "peer0", "address", "02:00:00:00:00:42");
    const f = await waitFor(c, (x) => JSON.stringify(kindOf("eth0")(x)) === JSON.stringify({ kind: "vif", id: 5 }), 5000, "vif 5");
    expect(kindOf("peer0")(f)).toEqual({ kind: "none" });
  });

  test("SR-IOV: reclassify() after the xenstore listing changed", async () => {
    vfs.set("02:00:00:00:00:42", 1);
    c.reclassify();
    await waitFor(c, (f) => JSON.stringify(kindOf("peer0")(f)) === JSON.stringify({ kind: "sriov-vf", id: 1 }), 5000, "VF 1");
    vfs.clear();
    c.reclassify();
    await waitFor(c, (f) => kindOf("peer0")(f)?.kind === "none", 5000, "VF gone");
  });

  test("SR-IOV: a MAC change re-runs detection", async () => {
    vfs.set("02:00:00:00:00:43", 4);
    ns.ip("link", "set", "peer0", "address", "02:00:00:00:00:43");
    await waitFor(c, (f) => JSON.stringify(kindOf("peer0")(f)) === JSON.stringify({ kind: "sriov-vf", id: 4 }), 5000, "VF 4");
  });
});
