// The desired xenstore tree: relative path → value. Schemas build it; the publisher diffs it.

export type Tree = Map<string, string>;

/**
 * Values are cut to this many bytes. C xenstored's default node size quota is 2048 bytes for
 * path, permissions and value together (xe-guest-utilities-and-xapi.md §7.4); 1024 leaves room.
 */
export const MAX_VALUE_BYTES = 1024;

/**
 * A value made safe for every reader: 7-bit printable ASCII (xenstore-paths asks for it, and
 * xenopsd re-encodes anything else), other characters replaced by `?`, cut to MAX_VALUE_BYTES.
 */
export function printableValue(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > MAX_VALUE_BYTES ? clean.slice(0, MAX_VALUE_BYTES) : clean;
}

/**
 * A path component from guest data (an interface or mount name) made valid for xenstore: only
 * `A-Za-z0-9-_` are allowed in a component (`/` separates, `@` is reserved for special watches);
 * anything else becomes `_`. Never empty.
 */
export function pathComponent(raw: string): string {
  const clean = raw.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
  return clean === "" ? "_" : clean;
}

/** Adds `path = value` with the value sanitised. */
export function put(tree: Tree, path: string, value: string | number): void {
  tree.set(path, printableValue(String(value)));
}
