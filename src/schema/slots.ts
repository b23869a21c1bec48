// Stable address indices for `attr/vif/<id>/ipv4/<n>` and `ipv6/<n>`.
//
// XAPI shows the lowest index as the VIF's main IP (`<id>/ip`) and Xen Orchestra picks it, while
// renumbering on every change made XenCenter show duplicates (xe-guest-utilities issue 144). So:
// an address keeps its index while it exists, a new address takes the lowest free index (freed
// indices are reused, without limit: the Rust prototype exited after its 10th address), and when a
// set is first published the preferred address takes index 0.
import type { NetAddress } from "../facts/facts.ts";

/** Index by address text, for one interface and one family. */
export type SlotMap = ReadonlyMap<string, number>;

/** Global, not temporary, not deprecated first; otherwise the kernel's order is kept. */
function preference(a: NetAddress): number {
  let rank = 0;
  if (a.scope !== "global") rank += 4;
  if (a.deprecated) rank += 2;
  if (a.temporary) rank += 1;
  return rank;
}

export function assignSlots(previous: SlotMap | undefined, addresses: readonly NetAddress[]): Map<string, number> {
  const next = new Map<string, number>();
  const used = new Set<number>();
  const fresh: NetAddress[] = [];
  for (const a of addresses) {
    if (next.has(a.address)) continue;
    const index = previous?.get(a.address);
    if (index !== undefined) {
      next.set(a.address, index);
      used.add(index);
    } else {
      fresh.push(a);
    }
  }
  // Only a set published for the first time is ordered by preference; later arrivals must not
  // move anything, so they simply fill the lowest holes in arrival order.
  if (next.size === 0) fresh.sort((x, y) => preference(x) - preference(y));
  let candidate = 0;
  for (const a of fresh) {
    if (next.has(a.address)) continue;
    while (used.has(candidate)) candidate++;
    next.set(a.address, candidate);
    used.add(candidate);
  }
  return next;
}
