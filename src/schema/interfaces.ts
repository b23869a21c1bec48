// Which interfaces and addresses are reported: a pure function of NetworkFacts and the policy.
//
// Interfaces, decided in this order (first rule that applies wins):
//   1. `toolstackOnly` (the std schema): an interface the toolstack does not know (not a VIF or an
//      SR-IOV VF) is never reported: std keys are `attr/vif/<id>`, there is no id to put there.
//   2. An explicit `--exclude` match drops the interface, whatever else matches.
//   3. A non-empty `--include` list is a whitelist: a match is reported, even if a default
//      exclusion matches too (so `--include '*'` turns the defaults off); no match is dropped.
//   4. A toolstack interface is reported: the default exclusions guard against container and
//      overlay links flooding xenstore, they must not hide a VIF that happens to be named `veth0`.
//   5. A default exclusion (DEFAULT_EXCLUDE) match drops the interface.
//   6. Everything else is reported.
// `exclude` holds the user's patterns; the defaults always apply on top. A pattern in `exclude` that
// is literally one of DEFAULT_EXCLUDE counts as a default (so passing the defaults along is harmless).
//
// Addresses: an interface's effective addresses are its own, then those of its master, then of the
// master's master (a VIF in a bond in a bridge), each in the kernel's order, without duplicates —
// the address of a bridged VIF lives on the bridge (xe-guest-utilities issue 145). Tentative and
// DAD-failed addresses are never reported (not usable yet, or never); IPv6 link-local ones only
// when `linkLocal` is set.
import type { NetAddress, NetInterface, NetworkFacts, Toolstack } from "../facts/facts.ts";

export interface InterfacePolicy {
  /** Glob patterns (`*`, `?`) on interface names; non-empty makes it a whitelist (see above). */
  include: string[];
  /** The user's glob patterns; they always win. DEFAULT_EXCLUDE applies in addition. */
  exclude: string[];
  /** Report IPv6 link-local (fe80::/10) addresses. */
  linkLocal: boolean;
}

/** Loopback, container, VM-host and overlay-network links (open-vm-tools' list, extended). */
export const DEFAULT_EXCLUDE: readonly string[] = Object.freeze([
  "lo", "docker*", "veth*", "br-*", "virbr*", "cali*", "cni*", "flannel*", "cilium*", "vxlan*", "kube-*", "tunl*", "antrea-*",
]);

export interface ReportedInterface {
  ifindex: number;
  name: string;
  mac: string | null;
  operstate: string;
  toolstack: Toolstack;
  /** Effective: own + master's when enslaved, filtered by the policy, kernel order. */
  addresses: NetAddress[];
}

export type Verdict = { report: true; reason: string } | { report: false; reason: string };

/** Whether `iface` is reported, and the rule that decided it (for `config`/debug output). */
export function decide(iface: NetInterface, policy: InterfacePolicy, opts: { toolstackOnly: boolean }): Verdict {
  const toolstack = iface.toolstack.kind !== "none";
  if (opts.toolstackOnly && !toolstack) return { report: false, reason: "not a VIF or SR-IOV VF" };
  const explicit = policy.exclude.filter((p) => !DEFAULT_EXCLUDE.includes(p));
  const ex = explicit.find((p) => globMatch(p, iface.name));
  if (ex !== undefined) return { report: false, reason: `excluded by ${ex}` };
  if (policy.include.length > 0) {
    const inc = policy.include.find((p) => globMatch(p, iface.name));
    return inc !== undefined ? { report: true, reason: `included by ${inc}` } : { report: false, reason: "not included" };
  }
  const ts = iface.toolstack;
  if (ts.kind !== "none") return { report: true, reason: `${ts.kind} ${ts.id}` };
  const def = DEFAULT_EXCLUDE.find((p) => globMatch(p, iface.name));
  if (def !== undefined) return { report: false, reason: `excluded by default (${def})` };
  return { report: true, reason: "not excluded" };
}

export function reportedInterfaces(net: NetworkFacts, policy: InterfacePolicy, opts: { toolstackOnly: boolean }): ReportedInterface[] {
  const byIndex = new Map(net.interfaces.map((i) => [i.ifindex, i]));
  return net.interfaces
    .filter((i) => decide(i, policy, opts).report)
    .map((i) => ({
      ifindex: i.ifindex,
      name: i.name,
      mac: i.mac,
      operstate: i.operstate,
      toolstack: i.toolstack,
      addresses: effectiveAddresses(i, byIndex).filter((a) => addressReported(a, policy)),
    }));
}

/** Bridges in bonds in bridges are rare; a bound keeps a corrupt master loop harmless. */
const MAX_MASTER_DEPTH = 8;

function effectiveAddresses(iface: NetInterface, byIndex: Map<number, NetInterface>): NetAddress[] {
  const out: NetAddress[] = [];
  const seen = new Set<string>();
  const visited = new Set<number>();
  for (let cur: NetInterface | undefined = iface; cur && !visited.has(cur.ifindex) && visited.size < MAX_MASTER_DEPTH; ) {
    visited.add(cur.ifindex);
    for (const a of cur.addresses) {
      const key = `${a.family}/${a.address}/${a.prefixLength}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(a);
    }
    cur = cur.master !== null ? byIndex.get(cur.master) : undefined;
  }
  return out;
}

export function addressReported(a: NetAddress, policy: InterfacePolicy): boolean {
  if (a.tentative || a.dadfailed) return false;
  if (a.family === "ipv6" && a.scope === "link" && !policy.linkLocal) return false;
  return true;
}

/** Shell-style glob on a whole name: `*` any run (also empty), `?` one character; no classes. */
export function globMatch(pattern: string, name: string): boolean {
  // Iterative matcher with single-star backtracking: linear for the patterns people write.
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
