// Reading back what the tree holds under the schema's owned paths, so a republish (start-up,
// migration, resume, reconnect, reload) writes only the difference and removes only what is no
// longer wanted, instead of removing whole subtrees and rewriting them (dom0 would see the
// guest's addresses vanish for a moment). First one DIRECTORY per parent of the owned paths
// (`data`, `attr`…): after a migration the destination's tree is empty and that is all it costs
// (5 requests, not 2 per owned path). Then one READ and one DIRECTORY per node found, pipelined
// per level.
import type { Tree } from "../schema/tree.ts";
import { XenstoreError } from "../xenstore/errors.ts";

/** The part of the xenstore client a read-back needs. */
export interface TreeReader {
  read(path: string): Promise<string>;
  directory(path: string): Promise<string[]>;
}

/** A runaway tree (another writer filling our area) is read only this far. */
export const READ_BACK_MAX_NODES = 4096;

/**
 * The nodes at and below each of `owned` (relative paths), with their values. Absent or
 * unreadable paths are simply not in the result; a failed link rejects (the caller reconnects).
 */
export async function readBack(client: TreeReader, owned: readonly string[], base = ""): Promise<Tree> {
  const abs = (p: string) => (base ? `${base}/${p}` : p);
  const found: Tree = new Map();
  let level = await presentOf(client, owned, abs);
  while (level.length > 0 && found.size < READ_BACK_MAX_NODES) {
    const nodes = await Promise.all(level.map(async (path) => {
      const [value, children] = await Promise.all([
        absentIfRefused(client.read(abs(path))),
        absentIfRefused(client.directory(abs(path))),
      ]);
      return { path, value, children: children ?? [] };
    }));
    level = [];
    for (const { path, value, children } of nodes) {
      if (value === undefined || found.size >= READ_BACK_MAX_NODES) continue;
      found.set(path, value);
      for (const c of children) level.push(`${path}/${c}`);
    }
  }
  return found;
}

/** Those of `owned` that their parent's listing names (a path with no parent is kept as it is). */
async function presentOf(client: TreeReader, owned: readonly string[], abs: (p: string) => string): Promise<string[]> {
  const parentOf = (p: string) => p.slice(0, Math.max(0, p.lastIndexOf("/")));
  const parents = [...new Set(owned.map(parentOf).filter((p) => p !== ""))];
  const listings = new Map(await Promise.all(parents.map(async (p) => [p, new Set((await absentIfRefused(client.directory(abs(p)))) ?? [])] as const)));
  return owned.filter((p) => {
    const parent = parentOf(p);
    return parent === "" || listings.get(parent)!.has(p.slice(parent.length + 1));
  });
}

/** A daemon's answer (ENOENT, EACCES, E2BIG…) means "nothing to use here"; anything else is the link. */
async function absentIfRefused<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (e) {
    if (e instanceof XenstoreError) return undefined;
    throw e;
  }
}
