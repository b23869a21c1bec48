import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Volume, VolumeFacts } from "../../../src/facts/facts.ts";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import type { FsUsage } from "../../../native/statvfs.ts";
import { compareNames, SysfsBlock } from "../../../src/collectors/volumes/block.ts";
import { diskLetters, vbdDeviceName } from "../../../src/schema/vbd-names.ts";
import { parseMountinfo, type MountEntry } from "../../../src/collectors/volumes/mountinfo.ts";
import { applyHysteresis, MAX_MOUNT_POINTS, MAX_VOLUMES, primaryMounts, scanVolumes } from "../../../src/collectors/volumes/volumes.ts";
import { FixtureRoot, xenGuestDevices } from "./fixture-root.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/mountinfo");
const GUEST = readFileSync(join(FIXTURES, "xen-guest.txt"), "utf8");

let roots: FixtureRoot[] = [];
afterEach(() => {
  for (const r of roots) r.remove();
  roots = [];
});
function fixture(): FixtureRoot {
  const r = new FixtureRoot();
  roots.push(r);
  return r;
}

/** statvfs stand-in: 1 GiB filesystems, free by mount point. */
function fakeUsage(free: Record<string, number> = {}) {
  return (mp: string) => ({ sizeBytes: 1 << 30, freeBytes: free[mp] ?? 1 << 29, readOnly: false });
}

function scan(root: FixtureRoot, text: string, usage: (mp: string) => FsUsage | undefined = fakeUsage()) {
  const block = new SysfsBlock(new HostRoot(root.dir));
  return scanVolumes(parseMountinfo(text).mounts, { block, uuids: block.uuids(), usage });
}

describe("vbd ids (xen docs/misc/vbd-interface.txt)", () => {
  test.each([
    [51712, "xvda"], [51713, "xvda1"], [51728, "xvdb"], [51727, "xvda15"], [51952, "xvdp"],
    [(1 << 28) | (16 << 8), "xvdq"], [(1 << 28) | (26 << 8) | 3, "xvdaa3"], [(1 << 28) | (701 << 8), "xvdzz"],
    [768, "hda"], [769, "hda1"], [832, "hdb"], [5632, "hdc"], [2048, "sda"], [2066, "sdb2"],
  ])("%i is %s", (id, name) => {
    expect(vbdDeviceName(id)).toBe(name);
  });

  test.each([[-1], [2 << 28], [0x7fffffff], [1.5], [4096]])("%p is not a device", (id) => {
    expect(vbdDeviceName(id)).toBeUndefined();
  });

  test("disk letters", () => {
    expect([0, 25, 26, 27, 51, 52, 701, 702].map(diskLetters)).toEqual(["a", "z", "aa", "ab", "az", "ba", "zz", "aaa"]);
  });
});

describe("natural order", () => {
  test("digit runs compare as numbers", () => {
    expect(["xvda10", "xvda2", "xvdb", "dm-0", "nvme0n1p10", "nvme0n1p2", "sdaa", "sdb", "sda"].sort(compareNames))
      .toEqual(["dm-0", "nvme0n1p2", "nvme0n1p10", "sda", "sdaa", "sdb", "xvda2", "xvda10", "xvdb"]);
  });
});

describe("primary mounts", () => {
  const m = (mountPoint: string, root = "/"): MountEntry => ({
    id: 1, parentId: 0, major: 202, minor: 1, root, mountPoint, options: "rw", optional: [], fsType: "ext4", source: "/dev/xvda1", superOptions: "rw",
  });
  test("bind mounts of a subdirectory are dropped, remounts of the root are kept", () => {
    expect(primaryMounts([m("/"), m("/run/netns", "/run/netns"), m("/mnt/again"), m("/c", "/var/lib/x")]).map((x) => x.mountPoint))
      .toEqual(["/", "/mnt/again"]);
  });
  test("btrfs subvolumes with no mounted parent are all kept; a subvolume below a mounted root is not", () => {
    expect(primaryMounts([m("/", "/@"), m("/home", "/@home")]).map((x) => x.mountPoint)).toEqual(["/", "/home"]);
    expect(primaryMounts([m("/", "/@"), m("/top", "/"), m("/home", "/@home")]).map((x) => x.mountPoint)).toEqual(["/top"]);
  });
  test("`/a` is not an ancestor of `/ab`", () => {
    expect(primaryMounts([m("/x", "/a"), m("/y", "/ab")]).map((x) => x.mountPoint)).toEqual(["/x", "/y"]);
  });
  test("the same mount point twice (stacked mounts) is listed once", () => {
    expect(primaryMounts([m("/"), m("/")])).toHaveLength(1);
  });
});

describe("scan against a fixture root", () => {
  test("the Xen guest fixture", () => {
    const root = xenGuestDevices(fixture());
    const { facts, dropped } = scan(root, GUEST, fakeUsage({ "/": 123456789, "/home": 1000 }));
    expect(dropped).toBe(0);
    expect(facts.volumes.map((v) => [v.device, v.path, v.filesystem, v.mountPoints])).toEqual([
      ["dm-0", "/dev/mapper/vg0-data", "ext4", ["/var/lib/data"]],
      ["xvda1", "/dev/xvda1", "ext4", ["/"]],
      ["xvda2", "/dev/xvda2", "ext4", ["/home", "/mnt/home-again"]],
      ["xvdb", "/dev/xvdb", "xfs", ["/srv/My Data"]],
      ["xvdc", "/dev/xvdc", "btrfs", ["/btrfs-home"]],
      ["xvdd", "/dev/xvdd", "iso9660", ["/mnt/cd"]],
    ]);
    const root1 = facts.volumes[1]!;
    expect(root1).toEqual({
      device: "xvda1", path: "/dev/xvda1", uuid: "0b3c1a2e-1111-4c3d-9e55-aaaaaaaaaaaa", filesystem: "ext4",
      sizeBytes: 39843840 * 512, fsSizeBytes: 1 << 30, freeBytes: 123456789, mountPoints: ["/"],
      disks: [{ name: "xvda", vbd: 51712 }],
    });
    expect(facts.volumes[2]!.freeBytes).toBe(1000);
    expect(facts.volumes[0]!.disks).toEqual([{ name: "xvde", vbd: 51776 }, { name: "xvdf", vbd: 51792 }]);
  });

  test("sysfs size is 512-byte sectors whatever the disk's block size", () => {
    const root = fixture()
      .device({ name: "xvda", major: 202, minor: 0, sectors: 8, nodename: "device/vbd/51712" })
      .file("sys/devices/virtual/blk/block/xvda/queue/physical_block_size", "4096\n")
      .file("sys/devices/virtual/blk/block/xvda/queue/logical_block_size", "4096\n");
    const { facts } = scan(root, "26 1 202:0 / / rw - ext4 /dev/xvda rw\n");
    expect(facts.volumes[0]!.sizeBytes).toBe(4096);
  });

  test("tmpfs, overlay, proc, NFS, loop devices and unknown device numbers are not volumes", () => {
    const root = xenGuestDevices(fixture());
    const text = [
      "1 0 0:23 / /run rw - tmpfs tmpfs rw",
      "2 0 0:40 / /merged rw - overlay overlay rw,lowerdir=/a",
      "3 0 0:21 / /proc rw - proc proc rw",
      "4 0 0:43 / /nfs rw - nfs4 server:/export rw",
      "5 0 7:0 / /snap/x ro - squashfs /dev/loop0 ro",
      "6 0 8:0 / /unknown rw - ext4 /dev/sda rw",
      "7 0 0:50 / /fake rw - tmpfs /dev/../../etc/xvda1 rw",
    ].join("\n");
    expect(scan(root, text).facts.volumes).toEqual([]);
  });

  test("statvfs failing leaves free unknown and size from sysfs", () => {
    const root = xenGuestDevices(fixture());
    const { facts } = scan(root, "26 1 202:1 / / rw - ext4 /dev/xvda1 rw\n", () => undefined);
    expect(facts.volumes[0]).toMatchObject({ sizeBytes: 39843840 * 512, fsSizeBytes: null, freeBytes: null });
  });

  test("a disk without a xenbus node (virtio, emulated) has no vbd", () => {
    const root = fixture().device({ name: "vda", major: 254, minor: 0, sectors: 100 });
    expect(scan(root, "27 1 254:0 / / rw - ext4 /dev/vda rw\n").facts.volumes[0]!.disks).toEqual([{ name: "vda", vbd: null }]);
  });

  test("a hostile nodename is not a vbd", () => {
    const root = fixture().device({ name: "xvda", major: 202, minor: 0, sectors: 100, nodename: "device/vbd/../../x" });
    expect(scan(root, "27 1 202:0 / / rw - ext4 /dev/xvda rw\n").facts.volumes[0]!.disks).toEqual([{ name: "xvda", vbd: null }]);
  });

  test(`thousands of mounts: at most ${MAX_VOLUMES} volumes, ${MAX_MOUNT_POINTS} mount points each, sorted`, () => {
    const root = fixture();
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      root.device({ name: `xvd${diskLetters(i)}`, major: 202, minor: i * 16, sectors: 1000 + i });
      lines.push(`${i + 10} 1 202:${i * 16} / /d/${i} rw - ext4 /dev/xvd${diskLetters(i)} rw`);
    }
    for (let i = 0; i < 5000; i++) lines.push(`${i + 200} 1 202:0 / /again/${i} rw - ext4 /dev/xvda rw`);
    for (let i = 0; i < 5000; i++) lines.push(`${i + 6000} 1 202:0 /var/lib/x${i} /bind/${i} rw - ext4 /dev/xvda rw`);
    for (let i = 0; i < 5000; i++) lines.push(`${i + 12000} 1 0:${100 + i} / /tmpfs/${i} rw - tmpfs tmpfs rw`);
    const t0 = performance.now();
    const { facts, dropped } = scan(root, lines.join("\n"));
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(facts.volumes).toHaveLength(MAX_VOLUMES);
    expect(dropped).toBe(100 - MAX_VOLUMES);
    expect(facts.volumes[0]!.mountPoints).toHaveLength(MAX_MOUNT_POINTS);
    expect(facts.volumes[0]!.mountPoints[0]).toBe("/d/0");
    const names = facts.volumes.map((v) => v.device);
    expect(names.slice(0, 3)).toEqual(["xvda", "xvdaa", "xvdab"]);
    expect(names.slice(26, 29)).toEqual(["xvdaz", "xvdb", "xvdba"]);
  });

  test("this machine's captured mountinfo: /dev/vda once, at / (the /run/netns bind mount is not a second mount point)", () => {
    const root = fixture().device({ name: "vda", major: 254, minor: 0, sectors: 536870912 });
    const { facts } = scan(root, readFileSync(join(FIXTURES, "debian12-firecracker.txt"), "utf8"));
    expect(facts.volumes.map((v) => [v.device, v.mountPoints])).toEqual([["vda", ["/"]]]);
  });
});

describe("free-space hysteresis", () => {
  const vol = (free: number | null, extra: Partial<Volume> = {}): Volume => ({
    device: "xvda1", path: "/dev/xvda1", uuid: "", filesystem: "ext4", sizeBytes: 100_000, fsSizeBytes: 90_000,
    freeBytes: free, mountPoints: ["/"], disks: [{ name: "xvda", vbd: 51712 }], ...extra,
  });
  const facts = (...v: Volume[]): VolumeFacts => ({ volumes: v });

  test.each([
    ["no previous facts", undefined, 50_000, 50_000],
    ["moved less than 1 % of the size", 50_000, 50_999, 50_000],
    ["moved exactly 1 %", 50_000, 51_000, 51_000],
    ["moved down by more than 1 %", 50_000, 48_000, 48_000],
    ["became known", null, 50_000, 50_000],
    ["became unknown", 50_000, null, null],
  ])("%s", (_, before, now, published) => {
    const prev = before === undefined ? undefined : facts(vol(before));
    expect(applyHysteresis(prev, facts(vol(now))).volumes[0]!.freeBytes).toBe(published);
  });

  test("a changed set of volumes takes every fresh value", () => {
    const prev = facts(vol(50_000));
    expect(applyHysteresis(prev, facts(vol(50_010, { mountPoints: ["/", "/mnt"] }))).volumes[0]!.freeBytes).toBe(50_010);
    const two = applyHysteresis(prev, facts(vol(50_010), vol(7, { device: "xvdb" })));
    expect(two.volumes.map((v) => v.freeBytes)).toEqual([50_010, 7]);
  });

  test("each volume is judged on its own", () => {
    const prev = facts(vol(50_000), vol(10, { device: "xvdb", sizeBytes: 1000 }));
    const next = applyHysteresis(prev, facts(vol(50_500), vol(20, { device: "xvdb", sizeBytes: 1000 })));
    expect(next.volumes.map((v) => v.freeBytes)).toEqual([50_000, 20]);
  });
});
