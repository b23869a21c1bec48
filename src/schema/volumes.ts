// Volumes in the two schemas. Pure: facts in, tree entries out.
//
// std: the layout xe-guest-utilities writes and XCP-ng's `vm_disk_space` host plugin reads
// (xe-guest-utilities-and-xapi.md §1.2, peers.md §8):
//
//   data/volumes/<n>/name            /dev/xvda1, or /dev/xvda1(<fs uuid>) when the UUID is known
//   data/volumes/<n>/filesystem      ext4
//   data/volumes/<n>/size            bytes: the block device's size (sysfs size × 512, fixed units)
//   data/volumes/<n>/free            bytes available to users (statvfs f_bavail × f_frsize)
//   data/volumes/<n>/mount_points/<i>
//   data/volumes/<n>/extents/<i>     the PV disk's device name derived from its vbd id
//                                    (`device/vbd/51712` → `xvda`), "" when not a PV disk
//
// `<n>` numbers volumes in the collector's order (natural order of kernel names); xe-guest-utilities
// wrote the backend's `dev` node in extents/0, read from xenstore; toolstacks write there the device
// name that the vbd id encodes (xen docs/misc/vbd-interface.txt), so the value is the same without a
// xenstore read per disk.
//
// rfc: `data/volumes/<device>` = the device path, with `uuid`, `filesystem`, `size`,
// `filesystem-size`, `free`, `mount-points/<i>` and `disks/<disk>` = vbd id ("" when not PV).
import type { VolumeFacts } from "../facts/facts.ts";
import { vbdDeviceName } from "./vbd-names.ts";
import { pathComponent, put, type Tree } from "./tree.ts";

export function volumesStd(facts: VolumeFacts | undefined, tree: Tree): void {
  if (!facts) return;
  facts.volumes.forEach((v, n) => {
    const base = `data/volumes/${n}`;
    put(tree, `${base}/name`, v.uuid ? `${v.path}(${v.uuid})` : v.path);
    put(tree, `${base}/filesystem`, v.filesystem);
    put(tree, `${base}/size`, v.sizeBytes);
    if (v.freeBytes !== null) put(tree, `${base}/free`, v.freeBytes);
    v.mountPoints.forEach((mp, i) => put(tree, `${base}/mount_points/${i}`, mp));
    const extents = v.disks.map((d) => (d.vbd === null ? "" : vbdDeviceName(d.vbd) ?? ""));
    (extents.length > 0 ? extents : [""]).forEach((e, i) => put(tree, `${base}/extents/${i}`, e));
  });
}

export function volumesRfc(facts: VolumeFacts | undefined, tree: Tree): void {
  if (!facts) return;
  for (const v of facts.volumes) {
    const base = `data/volumes/${pathComponent(v.device)}`;
    put(tree, base, v.path);
    if (v.uuid) put(tree, `${base}/uuid`, v.uuid);
    put(tree, `${base}/filesystem`, v.filesystem);
    put(tree, `${base}/size`, v.sizeBytes);
    if (v.fsSizeBytes !== null) put(tree, `${base}/filesystem-size`, v.fsSizeBytes);
    if (v.freeBytes !== null) put(tree, `${base}/free`, v.freeBytes);
    v.mountPoints.forEach((mp, i) => put(tree, `${base}/mount-points/${i}`, mp));
    for (const d of v.disks) put(tree, `${base}/disks/${pathComponent(d.name)}`, d.vbd ?? "");
  }
}
