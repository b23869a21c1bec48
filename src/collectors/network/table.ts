// The kernel-equivalent link/address table. Pure state: messages in, NetworkFacts out.
//
// Events are hints that keep the table current between dumps; a dump is the truth. A dump is a
// mark-and-sweep: `beginDump` marks every entry of its kind stale, dump replies and events seen
// meanwhile refresh or remove entries, and `endDump` removes what is still stale (it vanished while
// we were not listening, e.g. its RTM_DEL* was lost to ENOBUFS). Events must be applied while the
// dump runs, because dump replies and events share one socket and arrive in the kernel's order: an
// address added after the dump passed its interface is known only from its event.
//
// Address order is the kernel's, per interface: IPv4 (the in_device `ifa_list`) then IPv6 (the
// inet6_dev `addr_list`), as `ip addr` prints them. A dump gives the order directly; an address
// learned from an event is put where the kernel inserts it (see `insertAt`).
import type { NetAddress, NetInterface, NetworkFacts, Toolstack } from "../../facts/facts.ts";
import {
  type AddrMessage,
  IFA_F_DADFAILED,
  IFA_F_DEPRECATED,
  IFA_F_SECONDARY,
  IFA_F_TEMPORARY,
  IFA_F_TENTATIVE,
  type LinkMessage,
} from "./rtnetlink.ts";

/** A link as the table holds it: the interface without its addresses, plus the sweep mark. */
interface Link extends Omit<NetInterface, "addresses"> {
  stale: boolean;
}

interface Addr {
  key: string;
  msg: AddrMessage;
  stale: boolean;
}

/** What applying a link message did; `identity` means name or MAC changed (re-run VIF detection). */
export interface LinkResult {
  changed: boolean;
  identity: boolean;
}

export type DumpKind = "links" | "addrs";

const NONE: Toolstack = { kind: "none" };

export class NetTable {
  private readonly links = new Map<number, Link>();
  /** ifindex → [IPv4 list, IPv6 list]; may hold addresses of a link not (yet) known. */
  private readonly addrs = new Map<number, [Addr[], Addr[]]>();
  /** Per `ifindex/family` list: how many entries the running address dump has placed. */
  private readonly cursor = new Map<string, number>();

  /** A link has no order to keep (facts are sorted by ifindex), so dump and event are alike. */
  applyLink(msg: LinkMessage): LinkResult {
    const old = this.links.get(msg.ifindex);
    if (msg.op === "del") {
      if (!old) return { changed: false, identity: false };
      this.removeLink(msg.ifindex);
      return { changed: true, identity: false };
    }
    const next: Link = {
      ifindex: msg.ifindex,
      name: msg.name ?? old?.name ?? `if${msg.ifindex}`,
      mac: msg.mac,
      master: msg.master,
      operstate: msg.operstate,
      toolstack: old?.toolstack ?? NONE,
      stale: false,
    };
    this.links.set(msg.ifindex, next);
    if (!old) return { changed: true, identity: true };
    const identity = old.name !== next.name || old.mac !== next.mac;
    const changed = identity || old.master !== next.master || old.operstate !== next.operstate;
    return { changed, identity };
  }

  /** Returns whether the visible state changed. */
  applyAddr(msg: AddrMessage, fromDump = false): boolean {
    const key = addrKey(msg);
    const lists = this.addrs.get(msg.ifindex) ?? [[], []];
    this.addrs.set(msg.ifindex, lists);
    const list = lists[msg.family === "ipv4" ? 0 : 1];
    const at = list.findIndex((a) => a.key === key);
    const old = at >= 0 ? list[at] : undefined;
    if (msg.op === "del") {
      if (!old) return false;
      list.splice(at, 1);
      return true;
    }
    const entry: Addr = { key, msg, stale: false };
    const same = old !== undefined && sameAddr(old.msg, msg);
    if (fromDump) {
      // The dump lists an interface's addresses in kernel order: place each after the previous one.
      const c = `${msg.ifindex}/${msg.family}`;
      const pos = this.cursor.get(c) ?? 0;
      if (old) list.splice(at, 1);
      list.splice(Math.min(pos, list.length), 0, entry);
      this.cursor.set(c, pos + 1);
      return !same || at !== pos;
    }
    if (old && !(msg.family === "ipv4" && isSecondary(old.msg) && !isSecondary(msg))) {
      list[at] = entry; // a flags/lifetime update keeps its place
      return !same;
    }
    // New, or an IPv4 secondary promoted to primary (the kernel moves it: __inet_del_ifa).
    if (old) list.splice(at, 1);
    list.splice(insertAt(list, msg), 0, entry);
    return true;
  }

  setToolstack(ifindex: number, toolstack: Toolstack): boolean {
    const link = this.links.get(ifindex);
    if (!link || sameToolstack(link.toolstack, toolstack)) return false;
    link.toolstack = toolstack;
    return true;
  }

  /** Links as (ifindex, name, mac) for VIF/SR-IOV classification. */
  linkIdentities(): { ifindex: number; name: string; mac: string | null }[] {
    return [...this.links.values()].map(({ ifindex, name, mac }) => ({ ifindex, name, mac }));
  }

  beginDump(kind: DumpKind): void {
    if (kind === "links") for (const l of this.links.values()) l.stale = true;
    else {
      this.cursor.clear();
      for (const lists of this.addrs.values()) for (const l of lists) for (const a of l) a.stale = true;
    }
  }

  /** Removes what the dump did not confirm; returns whether anything was removed. */
  endDump(kind: DumpKind): boolean {
    let changed = false;
    if (kind === "links") {
      for (const l of [...this.links.values()]) {
        if (l.stale) changed = this.removeLink(l.ifindex) || changed;
      }
      return changed;
    }
    this.cursor.clear();
    for (const [ifindex, lists] of this.addrs) {
      for (const [i, list] of lists.entries()) {
        const kept = list.filter((a) => !a.stale);
        if (kept.length !== list.length) {
          lists[i] = kept;
          changed ||= this.links.has(ifindex);
        }
      }
    }
    return changed;
  }

  /** Forgets the marks of a dump that failed: nothing is removed on incomplete information. */
  abortDump(kind: DumpKind): void {
    if (kind === "links") for (const l of this.links.values()) l.stale = false;
    else {
      this.cursor.clear();
      for (const lists of this.addrs.values()) for (const l of lists) for (const a of l) a.stale = false;
    }
  }

  facts(): NetworkFacts {
    const interfaces: NetInterface[] = [...this.links.values()]
      .sort((a, b) => a.ifindex - b.ifindex)
      .map((l) => {
        const [v4, v6] = this.addrs.get(l.ifindex) ?? [[], []];
        return {
          ifindex: l.ifindex,
          name: l.name,
          mac: l.mac,
          master: l.master,
          operstate: l.operstate,
          toolstack: l.toolstack,
          addresses: [...v4, ...v6].map((a) => toNetAddress(a.msg)),
        };
      });
    return { interfaces };
  }

  private removeLink(ifindex: number): boolean {
    this.addrs.delete(ifindex);
    return this.links.delete(ifindex);
  }
}

/**
 * The kernel's identity of an address on one interface. IPv4 (find_matching_ifa, net/ipv4/devinet.c):
 * local address, prefix and peer, since one address may sit on an interface with two prefixes.
 * IPv6 (ipv6_add_addr → EEXIST, net/ipv6/addrconf.c): the address alone.
 */
function addrKey(m: AddrMessage): string {
  return m.family === "ipv4" ? `${m.address}/${m.prefixLength}/${m.peer ?? ""}` : m.address;
}

const isSecondary = (m: AddrMessage): boolean => (m.flags & IFA_F_SECONDARY) !== 0;

/** rt_scope_t value, for IPv4 ordering (linux/rtnetlink.h). */
const RT_SCOPE = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
/** IPV6_ADDR_SCOPE_* of include/net/ipv6.h, for IPv6 ordering (wider scope = larger). */
const V6_SCOPE = { global: 0x0e, site: 0x05, link: 0x02, host: 0x01, nowhere: 0 } as const;

/**
 * Where the kernel puts a new address in its list.
 * - IPv4 (__inet_insert_ifa, net/ipv4/devinet.c): a secondary goes last; a primary goes right after
 *   the last primary whose scope is not narrower than its own (rt scope number >= its own).
 * - IPv6 (ipv6_link_dev_addr, net/ipv6/addrconf.c): before the first address whose scope is not
 *   wider than its own, so wider scopes come first and, within a scope, the newest comes first.
 */
function insertAt(list: Addr[], m: AddrMessage): number {
  if (m.family === "ipv4") {
    if (isSecondary(m)) return list.length;
    let after = 0;
    list.forEach((a, i) => {
      if (!isSecondary(a.msg) && RT_SCOPE[m.scope] <= RT_SCOPE[a.msg.scope]) after = i + 1;
    });
    return after;
  }
  const i = list.findIndex((a) => V6_SCOPE[a.msg.scope] <= V6_SCOPE[m.scope]);
  return i < 0 ? list.length : i;
}

function sameAddr(a: AddrMessage, b: AddrMessage): boolean {
  return a.flags === b.flags && a.scope === b.scope && a.prefixLength === b.prefixLength && a.peer === b.peer;
}

function sameToolstack(a: Toolstack, b: Toolstack): boolean {
  return a.kind === b.kind && (a.kind === "none" || a.id === (b as { id: number }).id);
}

export function toNetAddress(m: AddrMessage): NetAddress {
  return {
    family: m.family,
    address: m.address,
    prefixLength: m.prefixLength,
    scope: m.scope,
    temporary: m.family === "ipv6" && (m.flags & IFA_F_TEMPORARY) !== 0,
    deprecated: (m.flags & IFA_F_DEPRECATED) !== 0,
    tentative: (m.flags & IFA_F_TENTATIVE) !== 0,
    dadfailed: (m.flags & IFA_F_DADFAILED) !== 0,
  };
}
