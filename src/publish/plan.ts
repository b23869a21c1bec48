// Deciding what to send: a pure function of (desired tree, mirror of what was written).
import type { Tree } from "../schema/tree.ts";

export type Change = { op: "write"; path: string; value: string } | { op: "rm"; path: string };

/**
 * Directories the toolstack creates for the guest (xenopsd and libxl, §1.6): the agent never
 * removes them, even when nothing of its own is left inside.
 */
const TOOLSTACK_DIRS = new Set(["data", "attr", "feature", "control", "xenserver", "xenserver/attr", "drivers", "error"]);

/**
 * Publishing order. xenopsd watches attr/, feature/, control/ and xenserver/attr but not data/,
 * and re-reads the whole guest area when they fire, so data/* must already be in place: data
 * first, then attr and xenserver/attr, feature, control, and data/updated last (old xenopsd
 * and squeezed watch it).
 */
export function phase(path: string): number {
  if (path === "data/updated") return 4;
  const top = path.split("/", 1)[0];
  switch (top) {
    case "data":
      return 0;
    case "attr":
    case "xenserver":
      return 1;
    case "feature":
      return 2;
    case "control":
      return 3;
    default:
      return 1;
  }
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
 * desired below it, never a toolstack directory). Writes come before removals inside a phase, so
 * a replaced address never leaves a moment with none.
 */
export function planChanges(desired: Tree, mirror: Tree): Change[] {
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
    if (desired.has(path)) continue;
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

  const byPhase = (c: Change) => phase(c.path);
  const ordered = [...writes, ...rms];
  // Stable sort: within a phase, tree order for writes (parents before children), then removals.
  return ordered
    .map((c, i) => ({ c, i }))
    .sort((x, y) => byPhase(x.c) - byPhase(y.c) || opRank(x.c) - opRank(y.c) || x.i - y.i)
    .map((x) => x.c);
}

function opRank(c: Change): number {
  return c.op === "write" ? 0 : 1;
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
