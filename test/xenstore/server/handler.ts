// One request → one reply (or an error name), for one connection: the operation semantics of
// docs/misc/xenstore.txt, on the Store, with transactions and watches. No sockets here.
import {
  decodeList,
  decodeString,
  MsgType,
  nulTerminated,
  PAYLOAD_MAX,
  typeName,
  type Message,
} from "../../../src/xenstore/codec.ts";
import { pathProblem, resolvePath } from "../../../src/xenstore/paths.ts";
import { FLAVOR_CODES, formatPerms, parsePerms, Store, StoreError, type Change } from "./store.ts";

export interface Watch {
  /** As registered (relative paths give relative events). */
  path: string;
  abs: string;
  token: string;
}

interface Transaction {
  store: Store;
  /** Generation of every node the transaction looked at, when it first did (-1: absent). */
  seen: Map<string, number>;
  /** Mutations to replay on commit. */
  log: Array<(store: Store, changes: Change[]) => void>;
}

/** What the server offers a connection: the committed store and watch firing. */
export interface ServerState {
  store: Store;
  commit(changes: Change[]): void;
  nextTxId(): number;
  /** Fault hook: answer EAGAIN to this many commits. */
  takeForcedEagain(): boolean;
}

export class ConnectionState {
  readonly watches: Watch[] = [];
  readonly txs = new Map<number, Transaction>();

  constructor(readonly domid: number) {}

  /** The reply payload for `msg`, or throws StoreError with the E* name. */
  handle(msg: Message, server: ServerState): Uint8Array {
    const args = decodeList(msg.payload);
    const tx = msg.txId === 0 ? undefined : this.txs.get(msg.txId);
    if (msg.txId !== 0 && !tx && msg.type !== MsgType.WATCH && msg.type !== MsgType.UNWATCH) {
      throw new StoreError(FLAVOR_CODES[server.store.flavor].unknownTx);
    }
    const store = tx?.store ?? server.store;
    const path = (): string => this.path(args[0]);
    const changes: Change[] = [];
    const mutate = (fn: (s: Store, c: Change[]) => void): Uint8Array => {
      if (tx) {
        fn(tx.store, []);
        tx.log.push(fn);
      } else {
        fn(server.store, changes);
        server.commit(changes);
      }
      return OK;
    };
    const see = (p: string): void => {
      if (!tx || tx.seen.has(p)) return;
      tx.seen.set(p, tx.store.lookup(p)?.gen ?? -1);
      const parent = p.slice(0, Math.max(1, p.lastIndexOf("/")));
      if (parent !== p && !tx.seen.has(parent)) tx.seen.set(parent, tx.store.lookup(parent)?.gen ?? -1);
    };
    switch (msg.type) {
      case MsgType.READ: {
        const p = path();
        see(p);
        return new TextEncoder().encode(store.readable(p, this.domid).value);
      }
      case MsgType.DIRECTORY: {
        const p = path();
        see(p);
        const names = [...store.readable(p, this.domid).children.keys()];
        const out = nulTerminated(...names);
        // oxenstored does not cap replies on its socket (measured: an 8400-byte DIRECTORY reply);
        // C xenstored and oxenstored on a ring answer E2BIG.
        if (out.length > PAYLOAD_MAX && !(store.flavor === "ocaml" && this.domid === 0)) throw new StoreError("E2BIG");
        return out;
      }
      case MsgType.DIRECTORY_PART:
        if (store.flavor === "ocaml") throw new StoreError("ENOSYS"); // not in oxenstored 4.17
        return this.directoryPart(store, path(), Number(args[1] ?? "0"));
      case MsgType.GET_PERMS:
        return nulTerminated(...formatPerms(store.readable(path(), this.domid).perms));
      case MsgType.WRITE: {
        const text = new TextDecoder().decode(msg.payload);
        const nul = text.indexOf("\0");
        if (nul < 0) throw new StoreError("EINVAL");
        const p = this.path(text.slice(0, nul));
        const value = text.slice(nul + 1);
        see(p);
        return mutate((s, c) => s.write(p, value, this.domid, c));
      }
      case MsgType.MKDIR: {
        const p = path();
        see(p);
        return mutate((s, c) => s.write(p, "", this.domid, c, true));
      }
      case MsgType.RM: {
        const p = path();
        see(p);
        return mutate((s, c) => s.rm(p, this.domid, c));
      }
      case MsgType.SET_PERMS: {
        const p = path();
        const perms = parsePerms(args.slice(1));
        see(p);
        return mutate((s, c) => s.setPerms(p, perms, this.domid, c));
      }
      case MsgType.GET_DOMAIN_PATH:
        return nulTerminated(`/local/domain/${Number(args[0])}`);
      case MsgType.WATCH: {
        const [wpath, token] = args;
        if (wpath === undefined || token === undefined) throw new StoreError("EINVAL");
        // @introduceDomain / @releaseDomain: special names, valid only as watch paths.
        const abs = wpath.startsWith("@") && pathProblem(wpath) === undefined ? wpath : this.path(wpath);
        if (this.watches.some((w) => w.path === wpath && w.token === token)) throw new StoreError("EEXIST");
        this.watches.push({ path: wpath, abs, token });
        return OK;
      }
      case MsgType.UNWATCH: {
        const i = this.watches.findIndex((w) => w.path === args[0] && w.token === args[1]);
        if (i < 0) throw new StoreError("ENOENT");
        this.watches.splice(i, 1);
        return OK;
      }
      case MsgType.TRANSACTION_START: {
        if (msg.txId !== 0) throw new StoreError("EBUSY");
        const id = server.nextTxId();
        this.txs.set(id, { store: server.store.clone(), seen: new Map(), log: [] });
        return nulTerminated(String(id));
      }
      case MsgType.TRANSACTION_END:
        return this.endTransaction(msg.txId, decodeString(msg.payload), server);
      case MsgType.RESET_WATCHES:
        this.watches.length = 0;
        this.txs.clear();
        return OK;
      case MsgType.IS_DOMAIN_INTRODUCED:
        return nulTerminated(server.store.lookup(`/local/domain/${Number(args[0])}`) ? "T" : "F");
      default:
        if (this.domid !== 0 && [MsgType.INTRODUCE, MsgType.RELEASE, MsgType.RESUME, MsgType.SET_TARGET].includes(msg.type as never)) {
          throw new StoreError("EACCES");
        }
        throw new StoreError("ENOSYS");
    }
  }

  // --- internal ---

  private path(p: string | undefined): string {
    if (p === undefined || pathProblem(p) !== undefined || p.startsWith("@")) throw new StoreError("EINVAL");
    return resolvePath(p, this.domid);
  }

  /** C xenstored's DIRECTORY_PART (core.c send_directory_part): byte offsets, `\0` at the end. */
  private directoryPart(store: Store, path: string, offset: number): Uint8Array {
    const node = store.readable(path, this.domid);
    const list = [...node.children.keys()].map((n) => `${n}\0`).join("");
    const gen = `${node.gen}\0`;
    if (offset >= list.length) return new TextEncoder().encode(`${gen}\0`);
    let len = 0;
    for (const name of list.slice(offset).split("\0").slice(0, -1)) {
      if (gen.length + len + name.length + 1 > PAYLOAD_MAX) break;
      len += name.length + 1;
    }
    const done = offset + len === list.length;
    return new TextEncoder().encode(gen + list.slice(offset, offset + len) + (done ? "\0" : ""));
  }

  private endTransaction(txId: number, how: string, server: ServerState): Uint8Array {
    const tx = this.txs.get(txId);
    if (!tx) throw new StoreError(FLAVOR_CODES[server.store.flavor].unknownTx);
    if (how !== "T" && how !== "F") throw new StoreError("EINVAL");
    this.txs.delete(txId);
    if (how === "F") return OK;
    if (server.takeForcedEagain()) throw new StoreError("EAGAIN");
    // Conflict: a node the transaction looked at changed since (C xenstored 4.17 rule).
    for (const [p, gen] of tx.seen) {
      if ((server.store.lookup(p)?.gen ?? -1) !== gen) throw new StoreError("EAGAIN");
    }
    const changes: Change[] = [];
    for (const fn of tx.log) fn(server.store, changes);
    server.commit(changes);
    return OK;
  }
}

const OK = nulTerminated("OK");

export { typeName };
