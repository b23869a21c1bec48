import { describe, expect, test } from "bun:test";
import { applyToMirror, planChanges as plan3, type Change } from "../../src/publish/plan.ts";
import { dom0Phase } from "../../src/schema/phases.ts";

const tree = (o: Record<string, string>) => new Map(Object.entries(o));
const planChanges = (desired: Map<string, string>, mirror: Map<string, string>, removalsFirst = false): Change[] =>
  plan3(desired, mirror, { phase: dom0Phase, removalsFirst });

describe("planChanges", () => {
  test("nothing to do when the mirror equals the desired tree", () => {
    const t = tree({ "data/a": "1", "attr/vif/0/ipv4/0": "10.0.0.2" });
    expect(planChanges(t, new Map(t))).toEqual([]);
  });

  test("order: data, attr/xenserver, feature, control, then data/updated", () => {
    const desired = tree({
      "control/feature-balloon": "1",
      "feature/hotplug/vif": "1",
      "data/updated": "now",
      "attr/vif/0/ipv4/0": "10.0.0.2",
      "xenserver/attr/net-sriov-vf/1/ipv4/0": "10.1.0.2",
      "data/os_name": "Debian",
    });
    expect(planChanges(desired, new Map()).map((c) => c.path)).toEqual([
      "data/os_name", "attr/vif/0/ipv4/0", "xenserver/attr/net-sriov-vf/1/ipv4/0",
      "feature/hotplug/vif", "control/feature-balloon", "data/updated",
    ]);
  });

  test("unchanged values are never written; changed ones are", () => {
    const plan = planChanges(tree({ "data/a": "1", "data/b": "3" }), tree({ "data/a": "1", "data/b": "2" }));
    expect(plan).toEqual([{ op: "write", path: "data/b", value: "3" }]);
  });

  test("a stale key goes with the parents it leaves empty, not toolstack directories", () => {
    const mirror = tree({ "attr/vif/0": "", "attr/vif/0/ipv4/0": "10.0.0.2", "attr/vif/1": "", "attr/vif/1/ipv4/0": "10.0.1.2" });
    const desired = tree({ "attr/vif/0": "", "attr/vif/0/ipv4/0": "10.0.0.2" });
    expect(planChanges(desired, mirror)).toEqual([{ op: "rm", path: "attr/vif" + "/1" }]);
  });

  test("removing the last address of a family removes the family node", () => {
    const mirror = tree({ "attr/vif/0": "", "attr/vif/0/ipv4/0": "a", "attr/vif/0/ipv6/0": "b" });
    const desired = tree({ "attr/vif/0": "", "attr/vif/0/ipv4/0": "a" });
    expect(planChanges(desired, mirror)).toEqual([{ op: "rm", path: "attr/vif/0/ipv6" }]);
  });

  test("writes come before removals within a phase", () => {
    const plan = planChanges(tree({ "attr/vif/0/ipv4/1": "b" }), tree({ "attr/vif/0/ipv4/0": "a" }));
    expect(plan.map((c) => c.op)).toEqual(["write", "rm"]);
  });

  test("at a quota limit removals come first within a phase (they make the room)", () => {
    const plan = planChanges(tree({ "attr/vif/0/ipv4/1": "b" }), tree({ "attr/vif/0/ipv4/0": "a" }), true);
    expect(plan.map((c) => c.op)).toEqual(["rm", "write"]);
  });

  test("a tree read back holds intermediate nodes: those with wanted keys below stay", () => {
    const found = tree({ "attr/vif": "", "attr/vif/0": "", "attr/vif/0/ipv4": "", "attr/vif/0/ipv4/0": "a", "attr/vif/0/ipv4/1": "b" });
    expect(planChanges(tree({ "attr/vif/0": "", "attr/vif/0/ipv4/0": "a" }), found)).toEqual([{ op: "rm", path: "attr/vif/0/ipv4/1" }]);
  });

  test("stale keys after a reset: the highest ancestor holding nothing still wanted goes, toolstack directories stay", () => {
    const written = tree({ "data/os_name": "x", "attr/vif/0/ipv4/0": "10.0.0.1" });
    const before = (...stale: string[]) => new Map([...written, ...stale.map((k) => [k, "v"] as [string, string])]);
    const rms = (...stale: string[]) => planChanges(written, before(...stale)).map((c) => c.path).sort();
    expect(rms("attr/PVAddons/MajorVersion", "attr/PVAddons/MinorVersion", "data/net/2/ipv4/10_0_0_1")).toEqual(["attr/PVAddons", "data/net"]);
    expect(rms("attr/vif/0/ipv4/1")).toEqual(["attr/vif/0/ipv4/1"]);
    expect(rms("xenserver/attr/net-sriov-vf/0/mac")).toEqual(["xenserver/attr/net-sriov-vf"]);
    expect(rms("control/feature-balloon")).toEqual(["control/feature-balloon"]);
  });

  test("a top-level key is removed by itself", () => {
    expect(planChanges(new Map(), tree({ "data/domain": "x" }))).toEqual([{ op: "rm", path: "data/domain" }]);
  });
});

test("applyToMirror removes a subtree", () => {
  const m = tree({ "attr/vif/1": "", "attr/vif/1/ipv4/0": "a", "attr/vif/10": "" });
  applyToMirror(m, { op: "rm", path: "attr/vif/1" });
  expect([...m.keys()]).toEqual(["attr/vif/10"]);
});
