// vCPU hot-plug in the two schemas. Pure: facts in, tree entries out.
//
// std: `control/feature-vcpu-hotplug` = 1 while the agent onlines hot-added vCPUs (XAPI's
// `changing_VCPUs_live` needs it, xe-guest-utilities-and-xapi.md §5.3).
// rfc: `data/vcpus/{present,online,hotplug}`.
import type { VcpuFacts } from "../facts/facts.ts";
import { put, type Tree } from "./tree.ts";

export function vcpuStd(facts: VcpuFacts | undefined, tree: Tree): void {
  if (facts?.hotplug) put(tree, "control/feature-vcpu-hotplug", 1);
}

export function vcpuRfc(facts: VcpuFacts | undefined, tree: Tree): void {
  if (!facts) return;
  if (facts.present) put(tree, "data/vcpus/present", facts.present);
  if (facts.online) put(tree, "data/vcpus/online", facts.online);
  put(tree, "data/vcpus/hotplug", facts.hotplug ? 1 : 0);
}
