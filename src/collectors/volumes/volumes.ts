// From the mount table to volumes: which mounts are block filesystems, one volume per block
// device, and the free-space hysteresis. Pure but for the sysfs lookups (SysfsBlock, a HostRoot)
// and the usage callback (statvfs), both injected.
//
// Rules:
// - A mount counts when its st_dev (mountinfo field 3) is a block device in sysfs
//   (`sys/dev/block/<maj>:<min>`). tmpfs, proc, overlay, NFS… have anonymous device numbers (major 0)
//   that are not. btrfs also reports an anonymous number per subvolume, so for major 0 the mount
//   source (`/dev/…`) is tried as a block device too.
// - loop, ram and zram devices are skipped: images and swap-like memory disks are not guest disks
//   dom0 can do anything about (snap's squashfs loops would list dozens of full volumes).
// - A device mounted several times is one volume with several mount points. A bind mount of a
//   subdirectory (its root, field 4, lies below the root of another mount of the same device) is
//   not a mount point of the volume: `/run/netns` bound from `/` is still the root filesystem.
// - Volumes are sorted by kernel name in natural order, so `<n>` in the std tree is stable while the
//   set of volumes is; at most MAX_VOLUMES volumes and MAX_MOUNT_POINTS mount points each
//   (xenstore's per-domain node quota is about 1000).
import type { Volume, VolumeFacts } from "../../facts/facts.ts";
import type { FsUsage } from "../../../native/index.ts";
import { compareNames, type SysfsBlock } from "./block.ts";
import type { MountEntry } from "./mountinfo.ts";

export const MAX_VOLUMES = 64;
export const MAX_MOUNT_POINTS = 16;

const NOT_DISKS = /^(loop|ram|zram)\d+$/;

export interface VolumeSources {
  block: SysfsBlock;
  /** Space on the filesystem mounted at this mount point (a path in the mount table's namespace). */
  usage(mountPoint: string): FsUsage | undefined;
  /** Filesystem UUID by kernel name. */
  uuids: ReadonlyMap<string, string>;
}

export interface VolumeScan {
  facts: VolumeFacts;
  /** Devices left out because of MAX_VOLUMES. */
  dropped: number;
}

/** Is `ancestor` a proper ancestor directory of `path`? (`/` of `/a`, `/a` of `/a/b`, not `/a` of `/ab`) */
function isBelow(path: string, ancestor: string): boolean {
  if (path === ancestor) return false;
  return ancestor === "/" ? path.startsWith("/") : path.startsWith(`${ancestor}/`);
}

/** The mounts that are whole mounts of their filesystem (not bind mounts of a subdirectory). */
export function primaryMounts(mounts: readonly MountEntry[]): MountEntry[] {
  const roots = new Set(mounts.map((m) => m.root));
  const out: MountEntry[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.mountPoint)) continue;
    // Walk up the root's ancestors: O(depth) per mount even with thousands of bind mounts.
    let below = false;
    for (let p = m.root; p !== "/" && !below; ) {
      const cut = p.lastIndexOf("/");
      p = cut <= 0 ? "/" : p.slice(0, cut);
      below = roots.has(p) && isBelow(m.root, p);
    }
    if (below) continue;
    seen.add(m.mountPoint);
    out.push(m);
  }
  return out;
}

/** Groups the mount table by block device kernel name, in mountinfo order. */
export function blockMounts(mounts: readonly MountEntry[], block: SysfsBlock): Map<string, MountEntry[]> {
  const byDev = new Map<string, string | null>();
  const out = new Map<string, MountEntry[]>();
  for (const m of mounts) {
    const key = m.major === 0 ? `0:${m.minor}:${m.source}` : `${m.major}:${m.minor}`;
    let name = byDev.get(key);
    if (name === undefined) {
      name = (m.major === 0 ? block.nameOfPath(m.source) : block.nameOf(m.major, m.minor)) ?? null;
      if (name !== null && NOT_DISKS.test(name)) name = null;
      byDev.set(key, name);
    }
    if (name === null) continue;
    const list = out.get(name);
    if (list) list.push(m);
    else out.set(name, [m]);
  }
  return out;
}

export function scanVolumes(mounts: readonly MountEntry[], src: VolumeSources): VolumeScan {
  const grouped = blockMounts(mounts, src.block);
  const names = [...grouped.keys()].sort(compareNames);
  const volumes: Volume[] = [];
  for (const device of names.slice(0, MAX_VOLUMES)) {
    const primary = primaryMounts(grouped.get(device)!);
    if (primary.length === 0) continue;
    let usage: FsUsage | undefined;
    for (const m of primary) {
      usage = src.usage(m.mountPoint);
      if (usage) break;
    }
    const dm = src.block.dmName(device);
    volumes.push({
      device,
      path: dm ? `/dev/mapper/${dm}` : `/dev/${device}`,
      uuid: src.uuids.get(device) ?? "",
      filesystem: primary[0]!.fsType,
      sizeBytes: src.block.sizeBytes(device) ?? usage?.sizeBytes ?? 0,
      fsSizeBytes: usage?.sizeBytes ?? null,
      freeBytes: usage?.freeBytes ?? null,
      mountPoints: primary.slice(0, MAX_MOUNT_POINTS).map((m) => m.mountPoint),
      disks: src.block.disksUnder(device),
    });
  }
  return { facts: { volumes }, dropped: Math.max(0, names.length - MAX_VOLUMES) };
}

/** Free space must move by at least this share of the volume's size to be published again. */
export const FREE_HYSTERESIS = 0.01;

function withoutFree(v: Volume): string {
  return JSON.stringify({ ...v, freeBytes: null });
}

/**
 * The facts to publish after a scan. When anything but free space differs from `previous` (a
 * volume came or went, a mount point, a size, a UUID changed) the scan is taken as it is.
 * Otherwise each volume keeps its previous free value unless the new one differs by at least
 * 1 % of the volume's size (or it becomes known or unknown), so a busy filesystem does not cause
 * a xenstore write every interval.
 */
export function applyHysteresis(previous: VolumeFacts | undefined, next: VolumeFacts): VolumeFacts {
  if (!previous || previous.volumes.length !== next.volumes.length) return next;
  for (let i = 0; i < next.volumes.length; i++) {
    if (withoutFree(previous.volumes[i]!) !== withoutFree(next.volumes[i]!)) return next;
  }
  return {
    volumes: next.volumes.map((v, i) => {
      const old = previous.volumes[i]!.freeBytes;
      if (old === null || v.freeBytes === null) return v;
      return Math.abs(v.freeBytes - old) >= v.sizeBytes * FREE_HYSTERESIS ? v : { ...v, freeBytes: old };
    }),
  };
}
