// The in-process server's tree: nodes with values, permissions and generation counts, and the
// permission, quota and error rules of the real daemons. Where C xenstored and oxenstored answer
// differently (measured with test/support/xenstored.ts; see conformance.test.ts) `flavor` picks.
import { isUnder, parentPath } from "../../../src/xenstore/paths.ts";

export type Flavor = "c" | "ocaml";

export interface Perm {
  kind: "n" | "r" | "w" | "b";
  domid: number;
}

export interface Node {
  value: string;
  /** perms[0]: the owner (full access) and the access of everyone not listed. */
  perms: Perm[];
  children: Map<string, Node>;
  gen: number;
}

/** A failed operation: the E* name the daemon sends in XS_ERROR. */
export class StoreError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

export interface StoreLimits {
  /** Nodes a domain may own (C: quota-nb-entry-per-domain 1000; oxenstored: quota-maxentity 1000). */
  nodesPerDomain: number;
  /** Bytes of a value a guest may write (quota-max-entry-size / quota-maxsize 2048). */
  valueSize: number;
}

export const DEFAULT_LIMITS: StoreLimits = { nodesPerDomain: 1000, valueSize: 2048 };

/** Error names that differ between the two daemons (measured, Debian 4.17.7). */
export const FLAVOR_CODES = {
  c: { unreadableMissing: "EACCES", ownerChange: "EPERM", valueTooBig: "ENOSPC", quota: "ENOSPC", unknownTx: "ENOENT" },
  ocaml: { unreadableMissing: "ENOENT", ownerChange: "EACCES", valueTooBig: "E2BIG", quota: "EQUOTA", unknownTx: "EIO" },
} as const;

let generation = 1;
const nextGen = (): number => generation++;

export function parsePerms(specs: string[]): Perm[] {
  return specs.map((s) => {
    const m = /^([nrwb])(\d+)$/.exec(s);
    if (!m) throw new StoreError("EINVAL");
    return { kind: m[1] as Perm["kind"], domid: Number(m[2]) };
  });
}

export const formatPerms = (perms: Perm[]): string[] => perms.map((p) => `${p.kind}${p.domid}`);

/** A change the server turns into watch events: the path, and the node for permission checks. */
export interface Change {
  path: string;
  node: Node;
  removed: boolean;
}

export class Store {
  constructor(
    readonly root: Node = { value: "", perms: [{ kind: "n", domid: 0 }], children: new Map(), gen: 0 },
    readonly flavor: Flavor = "c",
    readonly limits: StoreLimits = DEFAULT_LIMITS,
  ) {}

  /** A deep copy: a transaction's snapshot. */
  clone(): Store {
    return new Store(cloneNode(this.root), this.flavor, this.limits);
  }

  lookup(path: string): Node | undefined {
    if (path === "/") return this.root;
    let node: Node | undefined = this.root;
    for (const part of path.slice(1).split("/")) {
      node = node.children.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  canRead(node: Node, domid: number): boolean {
    return this.access(node, domid, "r");
  }

  canWrite(node: Node, domid: number): boolean {
    return this.access(node, domid, "w");
  }

  /** READ/DIRECTORY/GET_PERMS target: the node, or the error xenstored gives for a missing one. */
  readable(path: string, domid: number): Node {
    const node = this.lookup(path);
    if (!node) throw new StoreError(this.missingCode(path, domid));
    if (!this.canRead(node, domid)) throw new StoreError("EACCES");
    return node;
  }

  /** WRITE (and MKDIR with `onlyCreate`): sets or creates the node, creating parents. */
  write(path: string, value: string, domid: number, changes: Change[], onlyCreate = false): void {
    if (path === "/" && onlyCreate) return;
    // oxenstored applies quota-maxsize to the value, for dom0 as well (measured: dom0's 3000-byte
    // write is E2BIG); C xenstored to a guest's whole node record (see recordTooBig).
    if (this.flavor === "ocaml" && Buffer.byteLength(value) > this.limits.valueSize) {
      throw new StoreError(FLAVOR_CODES.ocaml.valueTooBig);
    }
    const existing = this.lookup(path);
    if (existing && this.recordTooBig(domid, existing.perms.length, value, childListBytes(existing))) {
      throw new StoreError(FLAVOR_CODES.c.valueTooBig);
    }
    if (!existing && this.recordTooBig(domid, 1, value, 0)) throw new StoreError(FLAVOR_CODES.c.valueTooBig);
    if (existing) {
      if (!this.canWrite(existing, domid)) throw new StoreError("EACCES");
      if (onlyCreate) return;
      existing.value = value;
      existing.gen = nextGen();
      changes.push({ path, node: existing, removed: false });
      return;
    }
    // Find the nearest existing ancestor: the caller needs write access there.
    const missing: string[] = [];
    let at: string = path;
    let anc: Node | undefined;
    for (;;) {
      missing.unshift(at);
      const parent = parentPath(at)!;
      anc = this.lookup(parent);
      if (anc) break;
      at = parent;
    }
    if (!this.canWrite(anc, domid)) throw new StoreError("EACCES");
    const first = missing[0]!;
    const childBytes = childListBytes(anc) + Buffer.byteLength(first.slice(first.lastIndexOf("/") + 1)) + 1;
    if (this.recordTooBig(domid, anc.perms.length, anc.value, childBytes)) throw new StoreError(FLAVOR_CODES.c.valueTooBig);
    if (domid !== 0 && this.ownedBy(domid) + missing.length > this.limits.nodesPerDomain) {
      throw new StoreError(FLAVOR_CODES[this.flavor].quota);
    }
    let parent = anc;
    for (const p of missing) {
      // New nodes inherit the parent's permissions; an unprivileged creator becomes the owner.
      const perms = parent.perms.map((x) => ({ ...x }));
      if (domid !== 0) perms[0] = { kind: perms[0]!.kind, domid };
      const node: Node = { value: p === path ? value : "", perms, children: new Map(), gen: nextGen() };
      parent.children.set(p.slice(p.lastIndexOf("/") + 1), node);
      parent.gen = nextGen();
      parent = node;
    }
    // One event, for the path written: both daemons stay silent about implied parents (measured).
    changes.push({ path, node: parent, removed: false });
  }

  /** RM: recursive; OK when the node is missing but its parent exists. */
  rm(path: string, domid: number, changes: Change[]): void {
    if (path === "/") throw new StoreError("EINVAL");
    const node = this.lookup(path);
    const parentP = parentPath(path)!;
    const parent = this.lookup(parentP);
    if (!node) {
      if (!parent) throw new StoreError("ENOENT");
      return;
    }
    if (!this.canWrite(node, domid)) throw new StoreError("EACCES");
    parent!.children.delete(path.slice(path.lastIndexOf("/") + 1));
    parent!.gen = nextGen();
    changes.push({ path, node, removed: true });
  }

  setPerms(path: string, perms: Perm[], domid: number, changes: Change[]): void {
    const node = this.lookup(path);
    if (!node) throw new StoreError(this.missingCode(path, domid));
    if (!this.canWrite(node, domid)) throw new StoreError("EACCES");
    if (perms.length === 0) throw new StoreError("EINVAL");
    if (domid !== 0 && perms[0]!.domid !== node.perms[0]!.domid) {
      throw new StoreError(FLAVOR_CODES[this.flavor].ownerChange);
    }
    node.perms = perms;
    node.gen = nextGen();
    changes.push({ path, node, removed: false });
  }

  /** Nodes whose owner is `domid` (what the per-domain node quota counts). */
  ownedBy(domid: number): number {
    let n = 0;
    const walk = (node: Node): void => {
      if (node.perms[0]!.domid === domid) n++;
      for (const c of node.children.values()) walk(c);
    };
    walk(this.root);
    return n;
  }

  /** Every path at or below `path`, parents first (for watch events on a removed subtree). */
  static paths(path: string, node: Node): string[] {
    const out = [path];
    for (const [name, child] of node.children) out.push(...Store.paths(path === "/" ? `/${name}` : `${path}/${name}`, child));
    return out;
  }

  // --- internal ---

  /**
   * C xenstored refuses (ENOSPC) to store a guest's node whose record reaches quota-max-entry-size
   * (2048): a 24-byte header, 8 bytes per permission, the value and the NUL-separated child
   * names (tools/xenstored/core.c write_node_raw; measured: the 72nd child of 27-character names
   * is refused). So a guest's directory listing never needs DIRECTORY_PART on the C daemon.
   */
  private recordTooBig(domid: number, perms: number, value: string, childBytes: number): boolean {
    if (this.flavor !== "c" || domid === 0) return false;
    return 24 + 8 * perms + Buffer.byteLength(value) + childBytes >= this.limits.valueSize;
  }

  private access(node: Node, domid: number, want: "r" | "w"): boolean {
    if (domid === 0) return true;
    const [owner, ...rest] = node.perms;
    if (owner!.domid === domid) return true;
    const entry = rest.find((p) => p.domid === domid) ?? owner!;
    return entry.kind === "b" || entry.kind === want;
  }

  /**
   * C xenstored answers EACCES for a missing node when the caller cannot read its nearest
   * existing ancestor (core.c errno_from_parents), so a guest cannot probe dom0's tree;
   * oxenstored answers ENOENT.
   */
  private missingCode(path: string, domid: number): string {
    if (this.flavor === "ocaml") return "ENOENT";
    for (let p = parentPath(path); p !== undefined; p = parentPath(p)) {
      const anc = this.lookup(p);
      if (anc) return this.canRead(anc, domid) ? "ENOENT" : FLAVOR_CODES.c.unreadableMissing;
    }
    return "ENOENT";
  }
}

function childListBytes(n: Node): number {
  let bytes = 0;
  for (const name of n.children.keys()) bytes += Buffer.byteLength(name) + 1;
  return bytes;
}

function cloneNode(n: Node): Node {
  const children = new Map<string, Node>();
  for (const [k, v] of n.children) children.set(k, cloneNode(v));
  return { value: n.value, perms: n.perms.map((p) => ({ ...p })), children, gen: n.gen };
}

export { isUnder };
