// Deciding what to send: a pure function of (desired tree, mirror of what was written).
import type { Tree } from "../schema/tree.ts";

export type Change = { op: "write"; path: string; value: string } | { op: "rm"; path: string };

/** The write phase of a path: lower phases go first (the schema's order, src/schema/phases.ts). */
export type PhaseOf = (path: string) => number;

/**
 * Directories the toolstack creates for the guest (xenopsd and libxl, xe-guest-utilities-and-xapi.md
 * §1.6): the agent never removes them, even when nothing of its own is left inside.
 */
export const TOOLSTACK_DIRS: ReadonlySet<string> = new Set([
  "data", "attr", "feature", "control", "drivers", "error", "device", "vm-data", "xenserver", "xenserver/attr",
]);

export interface PlanOptions {
  phase: PhaseOf;
  /**
   * Within a phase, removals before writes. Normally writes go first, so a replaced address never
   * leaves a moment with none; at a quota limit the removals must make the room first.
   */
  removalsFirst?: boolean;
}

function ancestors(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"));
  return out;
}

/**
 * The changes that turn `mirror` into `desired`: writes of new or different values, and removals
 * of stale keys together with the parents they leave empty (the highest ancestor with nothing
 * desired below it, never a toolstack directory). A mirror node that still has desired keys below
 * it stays (a tree read back from xenstore holds the intermediate nodes too).
 */
export function planChanges(desired: Tree, mirror: Tree, opts: PlanOptions): Change[] {
  const writes: Change[] = [];
  for (const [path, value] of desired) {
    if (mirror.get(path) !== value) writes.push({ op: "write", path, value });
  }

  // Every prefix that still has something desired at or below it must survive.
  const keep = new Set<string>();
  for (const path of desired.keys()) {
    keep.add(path);
    for (const a of ancestors(path)) keep.add(a);
  }
  const removals = new Set<string>();
  for (const path of mirror.keys()) {
    if (keep.has(path) || TOOLSTACK_DIRS.has(path)) continue;
    let target = path;
    for (const a of ancestors(path).reverse()) {
      if (keep.has(a) || TOOLSTACK_DIRS.has(a)) break;
      target = a;
    }
    removals.add(target);
  }
  // A removal is recursive in xenstore: drop those already covered by a removed ancestor.
  const rms: Change[] = [...removals]
    .filter((p) => !ancestors(p).some((a) => removals.has(a)))
    .map((path) => ({ op: "rm", path }));

  const rank = (c: Change) => ((c.op === "write") === !opts.removalsFirst ? 0 : 1);
  // Stable sort: by phase, then writes and removals (tree order for writes: parents first).
  return [...writes, ...rms]
    .map((c, i) => ({ c, i }))
    .sort((x, y) => opts.phase(x.c.path) - opts.phase(y.c.path) || rank(x.c) - rank(y.c) || x.i - y.i)
    .map((x) => x.c);
}

/** Applies changes to a mirror (what the publisher believes xenstore now holds). */
export function applyToMirror(mirror: Map<string, string>, change: Change): void {
  if (change.op === "write") {
    mirror.set(change.path, change.value);
    return;
  }
  for (const path of [...mirror.keys()]) {
    if (path === change.path || path.startsWith(`${change.path}/`)) mirror.delete(path);
  }
}
