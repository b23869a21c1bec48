// Which filesystems a freeze request covers, and in what order. Pure: the mount table and the
// volumes the volumes collector reports are passed in.
//
// - Default (no mounts in the request): every local block filesystem the volumes collector
//   reports (data/volumes: loop, ram and zram devices, tmpfs, overlay and network filesystems are
//   not among them), one mount point per filesystem, read-only mounts left out (nothing to flush).
// - Given mounts must each be a mount point in the mount table (freezing a plain directory would
//   silently freeze whatever filesystem holds it).
// - One target per device: a filesystem mounted twice is frozen once.
// - Order: deepest mount point first, the root filesystem last (as hv_vss_daemon does: the agent's
//   own binary, /run and /proc paths stay usable for as long as possible), thawing in reverse.
import type { VolumeFacts } from "../../facts/facts.ts";
import type { MountEntry } from "../../collectors/volumes/mountinfo.ts";

export interface FreezeTarget {
  /** As the mount table names it (relative to the agent's --root). */
  mountPoint: string;
  /** `major:minor` of the mount's st_dev: the identity of the filesystem. */
  device: string;
  fsType: string;
}

export type TargetSelection = { ok: true; targets: FreezeTarget[]; skipped: string[] } | { ok: false; error: string };

const depth = (p: string): number => (p === "/" ? 0 : p.split("/").length - 1);

/** Deepest first, the root last; equal depths by name, so the order is stable. */
export function freezeOrder(a: FreezeTarget, b: FreezeTarget): number {
  return depth(b.mountPoint) - depth(a.mountPoint) || (a.mountPoint < b.mountPoint ? -1 : a.mountPoint > b.mountPoint ? 1 : 0);
}

/** The visible mount at each mount point (a later mount over the same path hides the earlier one). */
function visibleMounts(table: readonly MountEntry[]): Map<string, MountEntry> {
  const byPoint = new Map<string, MountEntry>();
  for (const m of table) byPoint.set(m.mountPoint, m);
  return byPoint;
}

const isReadOnly = (m: MountEntry): boolean => m.options.split(",").includes("ro");

export function selectTargets(requested: readonly string[] | undefined, table: readonly MountEntry[], volumes: VolumeFacts): TargetSelection {
  const visible = visibleMounts(table);
  const targets: FreezeTarget[] = [];
  const skipped: string[] = [];
  const seen = new Map<string, string>(); // device → mount point chosen
  const add = (m: MountEntry): void => {
    const device = `${m.major}:${m.minor}`;
    const first = seen.get(device);
    if (first !== undefined) {
      skipped.push(`${m.mountPoint}: same filesystem as ${first}`);
      return;
    }
    seen.set(device, m.mountPoint);
    targets.push({ mountPoint: m.mountPoint, device, fsType: m.fsType });
  };
  if (requested) {
    for (const point of requested) {
      const m = visible.get(point);
      if (!m) return { ok: false, error: `${point}: not a mount point` };
      add(m);
    }
  } else {
    for (const v of volumes.volumes) {
      // The root's mount point, when the volume has it, so the root is recognised as such.
      const point = v.mountPoints.includes("/") ? "/" : v.mountPoints[0];
      const m = point === undefined ? undefined : visible.get(point);
      if (!m) continue;
      if (isReadOnly(m)) skipped.push(`${m.mountPoint}: read-only`);
      else add(m);
    }
    if (targets.length === 0) return { ok: false, error: "no local block filesystem to freeze" };
  }
  return { ok: true, targets: targets.sort(freezeOrder), skipped };
}
