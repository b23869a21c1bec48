import { describe, expect, test } from "bun:test";
import type { Facts, VolumeFacts } from "../../src/facts/facts.ts";
import { rfcTree } from "../../src/schema/rfc.ts";
import { stdTree } from "../../src/schema/std.ts";
import { vcpuRfc, vcpuStd } from "../../src/schema/vcpus.ts";
import { volumesRfc, volumesStd } from "../../src/schema/volumes.ts";
import type { Tree } from "../../src/schema/tree.ts";

const VOLUMES: VolumeFacts = {
  volumes: [
    {
      device: "dm-0", path: "/dev/mapper/vg0-data", uuid: "", filesystem: "ext4", sizeBytes: 21474836480,
      fsSizeBytes: 21000000000, freeBytes: 1000, mountPoints: ["/var/lib/data"],
      disks: [{ name: "xvde", vbd: 51776 }, { name: "xvdf", vbd: 51792 }],
    },
    {
      device: "xvda1", path: "/dev/xvda1", uuid: "0b3c1a2e-1111", filesystem: "ext4", sizeBytes: 20400046080,
      fsSizeBytes: 20000000000, freeBytes: 123456789, mountPoints: ["/", "/mnt/again"], disks: [{ name: "xvda", vbd: 51712 }],
    },
    {
      device: "vda", path: "/dev/vda", uuid: "", filesystem: "xfs", sizeBytes: 4096, fsSizeBytes: null, freeBytes: null,
      mountPoints: ["/srv/My Data\u00e9"], disks: [{ name: "vda", vbd: null }],
    },
  ],
};

const entries = (tree: Tree, prefix: string) => Object.fromEntries([...tree].filter(([k]) => k.startsWith(prefix)));

describe("std: data/volumes as xe-guest-utilities writes it and vm_disk_space reads it", () => {
  test("layout", () => {
    const tree: Tree = new Map();
    volumesStd(VOLUMES, tree);
    expect(Object.fromEntries(tree)).toEqual({
      "data/volumes/0/name": "/dev/mapper/vg0-data",
      "data/volumes/0/filesystem": "ext4",
      "data/volumes/0/size": "21474836480",
      "data/volumes/0/free": "1000",
      "data/volumes/0/mount_points/0": "/var/lib/data",
      "data/volumes/0/extents/0": "xvde",
      "data/volumes/0/extents/1": "xvdf",
      "data/volumes/1/name": "/dev/xvda1(0b3c1a2e-1111)",
      "data/volumes/1/filesystem": "ext4",
      "data/volumes/1/size": "20400046080",
      "data/volumes/1/free": "123456789",
      "data/volumes/1/mount_points/0": "/",
      "data/volumes/1/mount_points/1": "/mnt/again",
      "data/volumes/1/extents/0": "xvda",
      "data/volumes/2/name": "/dev/vda",
      "data/volumes/2/filesystem": "xfs",
      "data/volumes/2/size": "4096",
      "data/volumes/2/mount_points/0": "/srv/My Data?",
      "data/volumes/2/extents/0": "",
    });
  });

  test("part of stdTree; no slice, no keys", () => {
    const facts: Facts = { agent: { version: "1.0.0", build: 1 }, volumes: VOLUMES };
    expect(Object.keys(entries(stdTree(facts, [], new Map(), { extended: false }).tree, "data/volumes/"))).toHaveLength(19);
    const none = stdTree({ agent: facts.agent }, [], new Map(), { extended: false }).tree;
    expect(Object.keys(entries(none, "data/volumes"))).toEqual([]);
  });
});

describe("rfc: data/volumes/<device>", () => {
  test("layout", () => {
    const tree: Tree = new Map();
    volumesRfc(VOLUMES, tree);
    expect(entries(tree, "data/volumes/xvda1")).toEqual({
      "data/volumes/xvda1": "/dev/xvda1",
      "data/volumes/xvda1/uuid": "0b3c1a2e-1111",
      "data/volumes/xvda1/filesystem": "ext4",
      "data/volumes/xvda1/size": "20400046080",
      "data/volumes/xvda1/filesystem-size": "20000000000",
      "data/volumes/xvda1/free": "123456789",
      "data/volumes/xvda1/mount-points/0": "/",
      "data/volumes/xvda1/mount-points/1": "/mnt/again",
      "data/volumes/xvda1/disks/xvda": "51712",
    });
    expect(tree.get("data/volumes/dm-0/disks/xvdf")).toBe("51792");
    expect(tree.get("data/volumes/vda/disks/vda")).toBe("");
    expect(tree.has("data/volumes/vda/free")).toBe(false);
  });

  test("part of rfcTree", () => {
    const tree = rfcTree({ agent: { version: "1.0.0", build: 1 }, volumes: VOLUMES }, []);
    expect(tree.get("data/volumes/dm-0")).toBe("/dev/mapper/vg0-data");
  });
});

describe("vCPU hot-plug", () => {
  test("std advertises control/feature-vcpu-hotplug only while active", () => {
    const on: Tree = new Map();
    vcpuStd({ hotplug: true, present: "0-3", online: "0-3" }, on);
    expect(Object.fromEntries(on)).toEqual({ "control/feature-vcpu-hotplug": "1" });
    const off: Tree = new Map();
    vcpuStd({ hotplug: false, present: "0-3", online: "0-3" }, off);
    vcpuStd(undefined, off);
    expect(off.size).toBe(0);
    const facts: Facts = { agent: { version: "1.0.0", build: 1 }, vcpus: { hotplug: true, present: "0-1", online: "0" } };
    expect(stdTree(facts, [], new Map(), { extended: false }).tree.get("control/feature-vcpu-hotplug")).toBe("1");
  });

  test("rfc", () => {
    const tree: Tree = new Map();
    vcpuRfc({ hotplug: true, present: "0-3", online: "0,2-3" }, tree);
    expect(Object.fromEntries(tree)).toEqual({ "data/vcpus/present": "0-3", "data/vcpus/online": "0,2-3", "data/vcpus/hotplug": "1" });
  });
});
