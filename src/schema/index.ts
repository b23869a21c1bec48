// The two schemas as values: everything the pipeline and the lifecycle need to know about a key
// layout is here, so neither names a key. A schema is pure: facts in, tree out.
//
//   tree       builds the desired tree (carrying std's stable address slots between builds)
//   owned      every key or subtree the schema may write: read back to reconcile after a restart,
//              migration or reconnect (what is there and not wanted is removed, the rest is
//              written only where it differs), and checked when dom0 changes something under
//   watched    the roots watched for changes by others (dom0 removing `attr/vif`): every owned
//              key but the memory one, whose write on every tick would otherwise fire an event
//              back at the agent (a guest's only traffic at rest, so its cost to dom0 doubled)
//   unwatched  those owned keys left out of `watched`: a removal noticed elsewhere (their parent
//              went) writes them again too
//   heartbeat  the key rewritten after every batch that changed something, and the keys that
//              alone do not move it
//   phase      the write order
import type { Facts } from "../facts/facts.ts";
import { reportedInterfaces, type InterfacePolicy, type ReportedInterface } from "./interfaces.ts";
import { dom0Phase, HEARTBEAT_KEY } from "./phases.ts";
import { rfcTree } from "./rfc.ts";
import { stdTree, type SlotState } from "./std.ts";
import type { Tree } from "./tree.ts";

export type SchemaName = "std" | "rfc";

/** The options that shape the tree (a subset of the agent's configuration). */
export interface SchemaConfig {
  schema: SchemaName;
  /** std: also publish interface names, MACs and prefix lengths. */
  extended: boolean;
  include: string[];
  exclude: string[];
  linkLocal: boolean;
}

export interface Schema {
  readonly name: SchemaName;
  tree(facts: Facts, interfaces: readonly ReportedInterface[], carried: SlotState, config: SchemaConfig): { tree: Tree; carried: SlotState };
  /** std reports only interfaces the toolstack knows (VIFs, SR-IOV VFs); rfc every reported one. */
  readonly toolstackOnly: boolean;
  readonly owned: readonly string[];
  readonly watched: readonly string[];
  readonly unwatched: readonly string[];
  readonly heartbeat?: { key: string; quietKeys: readonly string[] };
  phase(path: string): number;
}

const STD_OWNED = [
  "data/os_distro", "data/os_name", "data/os_majorver", "data/os_minorver", "data/os_uname",
  "data/meminfo_total", "data/meminfo_free", "data/host_name_dns", "data/domain", "data/volumes", HEARTBEAT_KEY,
  "attr/PVAddons", "attr/vif", "xenserver/attr/net-sriov-vf",
  "feature/hotplug", "control/feature-balloon", "control/feature-vcpu-hotplug",
];
const STD_MEMORY_FREE = "data/meminfo_free";

export const std: Schema = {
  name: "std",
  tree: (facts, interfaces, carried, config) => {
    const { tree, slots } = stdTree(facts, interfaces, carried, { extended: config.extended });
    return { tree, carried: slots };
  },
  toolstackOnly: true,
  owned: STD_OWNED,
  watched: STD_OWNED.filter((k) => k !== STD_MEMORY_FREE),
  unwatched: [STD_MEMORY_FREE],
  heartbeat: { key: HEARTBEAT_KEY, quietKeys: [STD_MEMORY_FREE] },
  phase: dom0Phase,
};

export const rfc: Schema = {
  name: "rfc",
  tree: (facts, interfaces, carried) => ({ tree: rfcTree(facts, interfaces), carried }),
  toolstackOnly: false,
  owned: ["data/xen-guest-agent", "data/os", "data/memory", "data/host", "data/net", "data/volumes", "data/vcpus"],
  watched: ["data/xen-guest-agent", "data/os", "data/memory/total-kib", "data/host", "data/net", "data/volumes", "data/vcpus"],
  unwatched: ["data/memory/available-kib"],
  phase: dom0Phase,
};

export const SCHEMAS: Readonly<Record<SchemaName, Schema>> = { std, rfc };

export function interfacePolicy(config: SchemaConfig): InterfacePolicy {
  return { include: config.include, exclude: config.exclude, linkLocal: config.linkLocal };
}

/** Builds the desired tree for a configuration. Pure but for the carried address slots. */
export class TreeBuilder {
  readonly schema: Schema;
  private carried: SlotState = new Map();

  constructor(private readonly config: SchemaConfig) {
    this.schema = SCHEMAS[config.schema];
  }

  build(facts: Facts): Tree {
    const interfaces = facts.network
      ? reportedInterfaces(facts.network, interfacePolicy(this.config), { toolstackOnly: this.schema.toolstackOnly })
      : [];
    const { tree, carried } = this.schema.tree(facts, interfaces, this.carried, this.config);
    this.carried = carried;
    return tree;
  }

  /** Forget address indices (a republish into an empty tree may number from 0 again). */
  reset(): void {
    this.carried = new Map();
  }
}
