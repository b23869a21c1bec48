// Block devices as sysfs describes them (Documentation/ABI/stable/sysfs-block), read through a
// HostRoot so tests use fixture trees and a container reads the host's /sys under `--root`.
//
// - `sys/dev/block/<major>:<minor>` links to the device's directory; its last component is the
//   kernel name (`xvda1`, `dm-0`, `nvme0n1p2`).
// - `sys/class/block/<name>/size` is the size in 512-byte sectors, whatever the device's logical
//   or physical block size (include/linux/blk_types.h SECTOR_SHIFT; xe-guest-utilities multiplied by
//   `queue/physical_block_size` and over-reported 4K disks 8×).
// - A partition has a `partition` attribute and its directory sits inside its disk's.
// - Device-mapper and md devices list what they are built on in `slaves/`; dm has `dm/name`.
// - A Xen PV disk's `device/nodename` is its xenbus node, `device/vbd/<id>`.
// - Filesystem UUIDs come from udev's `/dev/disk/by-uuid/<uuid>` → `../../<name>` links (no blkid).
import { readdirSync } from "node:fs";
import type { HostRoot } from "../host-root.ts";

export interface DiskRef {
  /** Kernel name of the whole disk: `xvda`. */
  name: string;
  /** The Xen virtual block device id from `device/nodename` (`device/vbd/51712` → 51712), or null. */
  vbd: number | null;
}

/** Kernel names are short and plain; anything else read from a link is not believed. */
const KERNEL_NAME = /^[A-Za-z0-9!._:+-]{1,64}$/;
/** How deep `slaves/` chains are followed (dm on md on partitions is 3). */
const MAX_DEPTH = 8;

function lastComponent(link: string): string {
  const parts = link.split("/").filter((p) => p !== "");
  return parts[parts.length - 1] ?? "";
}

export class SysfsBlock {
  constructor(private readonly root: HostRoot) {}

  /** Kernel name of the block device `major:minor`, or undefined when it is not one. */
  nameOf(major: number, minor: number): string | undefined {
    const link = this.root.readLink(`sys/dev/block/${major}:${minor}`);
    if (link === undefined) return undefined;
    const name = lastComponent(link);
    return KERNEL_NAME.test(name) ? name : undefined;
  }

  /** The kernel name behind a device path (`/dev/xvda1`, `/dev/mapper/vg-root` → `dm-0`). */
  nameOfPath(devPath: string): string | undefined {
    if (!devPath.startsWith("/dev/") || devPath.split("/").includes("..")) return undefined;
    const target = this.root.readLink(devPath.slice(1));
    const name = lastComponent(target ?? devPath);
    return KERNEL_NAME.test(name) && this.exists(name) ? name : undefined;
  }

  exists(name: string): boolean {
    return this.root.readLine(`sys/class/block/${name}/dev`) !== undefined;
  }

  /** Size in bytes: sysfs `size` is always in 512-byte sectors. */
  sizeBytes(name: string): number | undefined {
    const text = this.root.readLine(`sys/class/block/${name}/size`);
    if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
    const bytes = Number(text) * 512;
    return Number.isSafeInteger(bytes) ? bytes : undefined;
  }

  /** The whole disk a partition belongs to; the name itself for a disk. */
  diskOf(name: string): string {
    if (this.root.readLine(`sys/class/block/${name}/partition`) === undefined) return name;
    // sys/class/block/xvda1 → ../../devices/vbd-51712/block/xvda/xvda1: the parent is the disk.
    const parts = (this.root.readLink(`sys/class/block/${name}`) ?? "").split("/").filter((p) => p !== "");
    const disk = parts[parts.length - 2];
    return disk !== undefined && KERNEL_NAME.test(disk) && disk !== "block" ? disk : name;
  }

  /** The vbd id from the disk's xenbus node name (`device/vbd/51712`), or null. */
  vbdOf(disk: string): number | null {
    const node = this.root.readLine(`sys/class/block/${disk}/device/nodename`);
    const m = node === undefined ? null : /^device\/vbd\/(\d{1,10})$/.exec(node);
    return m ? Number(m[1]) : null;
  }

  /** Device-mapper name (`vg-root`), or undefined for other devices. */
  dmName(name: string): string | undefined {
    const dm = this.root.readLine(`sys/class/block/${name}/dm/name`);
    return dm === undefined || dm === "" ? undefined : dm;
  }

  slaves(name: string): string[] {
    try {
      return readdirSync(this.root.path(`sys/class/block/${name}/slaves`)).filter((n) => KERNEL_NAME.test(n)).sort(compareNames);
    } catch {
      return [];
    }
  }

  /**
   * The whole disks a device is stored on: its own disk, or for dm/md the disks under its
   * `slaves/`, followed down; sorted by name, without duplicates.
   */
  disksUnder(name: string): DiskRef[] {
    const found = new Set<string>();
    const walk = (n: string, depth: number): void => {
      const below = depth < MAX_DEPTH ? this.slaves(n) : [];
      if (below.length === 0) {
        found.add(this.diskOf(n));
        return;
      }
      for (const s of below) walk(s, depth + 1);
    };
    walk(name, 0);
    return [...found].sort(compareNames).map((d) => ({ name: d, vbd: this.vbdOf(d) }));
  }

  /** Filesystem UUID by kernel name, from `dev/disk/by-uuid` links. */
  uuids(): Map<string, string> {
    const out = new Map<string, string>();
    let entries: string[];
    try {
      entries = readdirSync(this.root.path("dev/disk/by-uuid")).sort();
    } catch {
      return out;
    }
    for (const uuid of entries) {
      if (!/^[A-Za-z0-9-]{1,64}$/.test(uuid)) continue;
      const name = lastComponent(this.root.readLink(`dev/disk/by-uuid/${uuid}`) ?? "");
      if (KERNEL_NAME.test(name) && !out.has(name)) out.set(name, uuid);
    }
    return out;
  }
}

/**
 * Natural order of kernel names, like `ls -v`: digit runs compare as numbers, other runs as text.
 * So `xvda2` < `xvda10` and `nvme0n1p2` < `nvme0n1p10`; `sdaa` sorts between `sda` and `sdb`.
 */
export function compareNames(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
