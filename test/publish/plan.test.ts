import { describe, expect, test } from "bun:test";
import { applyToMirror, planChanges } from "../../src/publish/plan.ts";

const tree = (o: Record<string, string>) => new Map(Object.entries(o));

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

  test("a top-level key is removed by itself", () => {
    expect(planChanges(new Map(), tree({ "data/domain": "x" }))).toEqual([{ op: "rm", path: "data/domain" }]);
  });
});

test("applyToMirror removes a subtree", () => {
  const m = tree({ "attr/vif/1": "", "attr/vif/1/ipv4/0": "a", "attr/vif/10": "" });
  applyToMirror(m, { op: "rm", path: "attr/vif/1" });
  expect([...m.keys()]).toEqual(["attr/vif/10"]);
});
