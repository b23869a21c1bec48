// The rfc schema: the structured layout proposed by the Rust prototype (its doc/structure.md),
// under data/, without its bugs: `data/net/<ifindex>` holds the interface name and the MAC is its
// own key (the prototype overwrote the name with the MAC, and removing the MAC deleted the
// interface). Interfaces follow the interface policy, not a VIF-only constant.
import type { Facts } from "../facts/facts.ts";
import type { ReportedInterface } from "./interfaces.ts";
import { put, type Tree } from "./tree.ts";
import { vcpuRfc } from "./vcpus.ts";
import { volumesRfc } from "./volumes.ts";

/** Address text as a path component: `192.168.0.1` → `192_168_0_1`, `fe80::1` → `fe80__1`. */
export function addressKey(address: string): string {
  return address.replace(/[.:]/g, "_");
}

export function rfcTree(facts: Facts, interfaces: readonly ReportedInterface[]): Tree {
  const tree: Tree = new Map();
  put(tree, "data/xen-guest-agent", facts.agent.version);
  if (facts.os) {
    put(tree, "data/os/name", facts.os.prettyName);
    put(tree, "data/os/version", facts.os.versionId || "unknown");
    put(tree, "data/os/class", "unix");
    put(tree, "data/os/unix/kernel-version", facts.os.kernelRelease);
    put(tree, "data/os/unix/distro", facts.os.id);
  }
  if (facts.memory) {
    put(tree, "data/memory/total-kib", facts.memory.totalKiB);
    put(tree, "data/memory/available-kib", facts.memory.freeKiB);
  }
  if (facts.host) {
    put(tree, "data/host/name", facts.host.hostName);
    if (facts.host.domain) put(tree, "data/host/domain", facts.host.domain);
  }
  volumesRfc(facts.volumes, tree);
  vcpuRfc(facts.vcpus, tree);
  for (const iface of interfaces) {
    const base = `data/net/${iface.ifindex}`;
    put(tree, base, iface.name);
    if (iface.mac) put(tree, `${base}/mac`, iface.mac);
    put(tree, `${base}/operstate`, iface.operstate);
    if (iface.toolstack.kind !== "none") put(tree, `${base}/${iface.toolstack.kind}`, iface.toolstack.id);
    for (const a of iface.addresses) put(tree, `${base}/${a.family}/${addressKey(a.address)}`, a.prefixLength);
  }
  return tree;
}
