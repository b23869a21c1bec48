// The std schema: the keys XAPI/xenopsd, squeezed, rrdd and Xen Orchestra read today
// (xe-guest-utilities-and-xapi.md §1.2, §5.2). Relative to /local/domain/<domid>.
//
// `data/updated` is not here: the publisher writes it after a batch that changed something dom0
// should re-read (see src/publish/publisher.ts).
import type { Facts, NetAddress } from "../facts/facts.ts";
import type { ReportedInterface } from "./interfaces.ts";
import { assignSlots, type SlotMap } from "./slots.ts";
import { vcpuStd } from "./vcpus.ts";
import { volumesStd } from "./volumes.ts";
import { put, type Tree } from "./tree.ts";

export interface StdOptions {
  /** Also publish `attr/vif/<id>/name`, `mac/0` and `ipv4|ipv6/<n>/prefix` (Xen's xenstore-paths). */
  extended: boolean;
}

/** Address slots by `<prefix>/<id>/<family>`, carried from one build to the next. */
export type SlotState = ReadonlyMap<string, SlotMap>;

export interface SchemaResult {
  tree: Tree;
  slots: SlotState;
}

/** `12.5` → [`12`, `5`]; `22.04` → [`22`, `04`] (kept as text); `12` → [`12`, `0`]; `` → unknown. */
export function splitVersion(versionId: string): [string, string] {
  if (versionId === "") return ["unknown", "unknown"];
  const dot = versionId.indexOf(".");
  if (dot < 0) return [versionId, "0"];
  const minor = versionId.slice(dot + 1).split(".", 1)[0] ?? "";
  return [versionId.slice(0, dot), minor === "" ? "0" : minor];
}

/** `1.4.2-rc.1` → [1, 4, 2]; parts that are not numbers count as 0. */
export function versionNumbers(version: string): [number, number, number] {
  const [major, minor, micro] = version.split(/[.+-]/, 3).map((p) => (/^\d+$/.test(p) ? Number(p) : 0));
  return [major ?? 0, minor ?? 0, micro ?? 0];
}

export function stdTree(facts: Facts, interfaces: readonly ReportedInterface[], slots: SlotState, opts: StdOptions): SchemaResult {
  const tree: Tree = new Map();

  if (facts.os) {
    const [major, minor] = splitVersion(facts.os.versionId);
    put(tree, "data/os_distro", facts.os.id);
    put(tree, "data/os_name", facts.os.prettyName);
    put(tree, "data/os_majorver", major);
    put(tree, "data/os_minorver", minor);
    put(tree, "data/os_uname", facts.os.kernelRelease);
  }
  if (facts.memory) {
    put(tree, "data/meminfo_total", facts.memory.totalKiB);
    put(tree, "data/meminfo_free", facts.memory.freeKiB);
  }
  if (facts.host) {
    put(tree, "data/host_name_dns", facts.host.hostName);
    if (facts.host.domain) put(tree, "data/domain", facts.host.domain);
  }

  // XAPI needs integer Major and Minor to count the guest as having PV drivers (§5.2).
  const [major, minor, micro] = versionNumbers(facts.agent.version);
  put(tree, "attr/PVAddons/Installed", 1);
  put(tree, "attr/PVAddons/MajorVersion", major);
  put(tree, "attr/PVAddons/MinorVersion", minor);
  put(tree, "attr/PVAddons/MicroVersion", micro);
  put(tree, "attr/PVAddons/BuildVersion", facts.agent.build);

  const nextSlots = new Map<string, SlotMap>();
  for (const iface of interfaces) {
    const base = toolstackBase(iface);
    if (!base) continue;
    // XAPI lists attr/vif/<id> children; an interface without addresses still exists for it.
    put(tree, base, "");
    if (opts.extended) {
      put(tree, `${base}/name`, iface.name);
      if (iface.mac) put(tree, `${base}/mac/0`, iface.mac);
    }
    for (const family of ["ipv4", "ipv6"] as const) {
      const addrs = iface.addresses.filter((a) => a.family === family);
      const key = `${base}/${family}`;
      const assigned = assignSlots(slots.get(key), addrs);
      if (assigned.size > 0) nextSlots.set(key, assigned);
      for (const a of addrs) writeAddress(tree, `${key}/${assigned.get(a.address)}`, a, opts);
    }
  }

  volumesStd(facts.volumes, tree);
  vcpuStd(facts.vcpus, tree);

  put(tree, "feature/hotplug/vif", 1);
  put(tree, "feature/hotplug/vbd", 1);
  put(tree, "control/feature-balloon", 1);
  return { tree, slots: nextSlots };
}

function toolstackBase(iface: ReportedInterface): string | undefined {
  switch (iface.toolstack.kind) {
    case "vif":
      return `attr/vif/${iface.toolstack.id}`;
    case "sriov-vf":
      return `xenserver/attr/net-sriov-vf/${iface.toolstack.id}`;
    default:
      return undefined;
  }
}

function writeAddress(tree: Tree, path: string, a: NetAddress, opts: StdOptions): void {
  put(tree, path, a.address);
  if (opts.extended) put(tree, `${path}/prefix`, a.prefixLength);
}
