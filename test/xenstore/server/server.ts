// An in-process xenstored for tests, over Unix sockets (Bun.listen is fine here: test code).
// One privileged socket (dom0) and one socket per guest (relative paths, guest permissions),
// watches, transactions, quotas, and fault hooks to make the client's bad days reproducible.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, UnixSocketListener } from "bun";
import {
  frame,
  initialParserState,
  MsgType,
  nulTerminated,
  parse,
  type Message,
  type ParserState,
} from "../../../src/xenstore/codec.ts";
import { isUnder } from "../../../src/xenstore/paths.ts";
import { makeDomain } from "./domain.ts";
import { ConnectionState, type ServerState } from "./handler.ts";
import { DEFAULT_LIMITS, Store, StoreError, type Change, type Flavor, type StoreLimits } from "./store.ts";

interface Conn {
  state: ConnectionState;
  socket: Socket<unknown>;
  parser: ParserState;
  outbox: Uint8Array[];
  /** paceReplies: when this connection's next reply may go. */
  nextReplyAt?: number;
}

export interface TestServerOptions {
  flavor?: Flavor;
  limits?: Partial<StoreLimits>;
}

/** Fault hooks; each affects the next replies of every connection. */
export interface Faults {
  /** Close every client connection now (the client sees the connection lost). */
  dropConnections(): void;
  /** Send each reply `ms` later. 0 turns it off. */
  delayReplies(ms: number): void;
  /** Send a connection's replies at most one per `ms` (C xenstored's write rate limit, as a guest sees it). 0 turns it off. */
  paceReplies(ms: number): void;
  /** Hold the next `n` replies and send them in reverse order. */
  reorderNext(n: number): void;
  /** Never answer the next `n` requests. */
  swallowNext(n: number): void;
  /** Answer the next `n` transaction commits with EAGAIN. */
  eagainCommits(n: number): void;
  /** Replace the next reply's bytes (malformed or oversized replies). */
  rewriteNextReply(fn: (reply: Message) => Uint8Array): void;
  /** Write raw bytes to every connection. */
  inject(bytes: Uint8Array): void;
}

export class TestXenstored {
  readonly dom0SocketPath: string;
  readonly store: Store;
  /** Every watch event sent, in order (what an agent's traffic at rest costs the daemon). */
  readonly watchEventsSent: { domid: number; path: string }[] = [];
  private readonly conns = new Set<Conn>();
  private readonly connWaiters = new Set<() => void>();
  private readonly listeners: UnixSocketListener<unknown>[] = [];
  private txCounter = 0;
  private forcedEagain = 0;
  private delayMs = 0;
  private paceMs = 0;
  private reorder: { left: number; held: Array<[Conn, Uint8Array]> } = { left: 0, held: [] };
  private swallow = 0;
  private rewrite: ((reply: Message) => Uint8Array) | undefined;
  private readonly serverState: ServerState;

  private constructor(
    readonly dir: string,
    opts: TestServerOptions,
  ) {
    this.dom0SocketPath = join(dir, "socket");
    this.store = new Store(undefined, opts.flavor ?? "c", { ...DEFAULT_LIMITS, ...opts.limits });
    const changes: Change[] = [];
    this.store.write("/local/domain/0/name", "Domain-0", 0, changes);
    this.store.write("/local/domain/0/domid", "0", 0, changes);
    this.store.write("/tool/xenstored", "", 0, changes);
    this.serverState = {
      store: this.store,
      commit: (c) => this.fire(c),
      nextTxId: () => ++this.txCounter,
      takeForcedEagain: () => this.forcedEagain > 0 && this.forcedEagain-- > 0,
    };
  }

  static async start(opts: TestServerOptions = {}): Promise<TestXenstored> {
    const srv = new TestXenstored(mkdtempSync(join(tmpdir(), "xga-testxs-")), opts);
    srv.listen(srv.dom0SocketPath, 0);
    return srv;
  }

  /** Creates the domain like `xl create` and a guest socket for it; returns the socket path. */
  addGuest(domid: number, name = `guest${domid}`): string {
    this.mutate((c) => makeDomain(this.store, domid, name, c));
    const path = join(this.dir, `xenbus-${domid}`);
    this.listen(path, domid);
    return path;
  }

  /** Removes a subtree as the toolstack would (watches fire). */
  wipe(path: string): void {
    this.mutate((c) => {
      if (this.store.lookup(path)) this.store.rm(path, 0, c);
    });
  }

  /**
   * Removes a subtree with no watch event: what a migration leaves (the destination's tree never
   * had the keys, so nothing fires; the guest learns of it through its resume triggers).
   */
  vanish(path: string): void {
    if (this.store.lookup(path)) this.store.rm(path, 0, []);
  }

  /** Migration: the domain's tree is replaced by a fresh skeleton (watches fire). */
  replaceDomain(domid: number, name = `guest${domid}`): void {
    this.mutate((c) => makeDomain(this.store, domid, name, c));
  }

  /** Runs `fn` as dom0 on the committed store and fires the watches. */
  mutate(fn: (changes: Change[]) => void): void {
    const changes: Change[] = [];
    fn(changes);
    this.fire(changes);
  }

  readonly faults: Faults = {
    dropConnections: () => {
      for (const c of this.conns) c.socket.end();
    },
    delayReplies: (ms) => {
      this.delayMs = ms;
    },
    paceReplies: (ms) => {
      this.paceMs = ms;
    },
    reorderNext: (n) => {
      this.reorder = { left: n, held: [] };
    },
    swallowNext: (n) => {
      this.swallow = n;
    },
    eagainCommits: (n) => {
      this.forcedEagain = n;
    },
    rewriteNextReply: (fn) => {
      this.rewrite = fn;
    },
    inject: (bytes) => {
      for (const c of this.conns) this.send(c, bytes);
    },
  };

  /** Resolves once exactly `n` connections are open (the close of a dropped one is seen when it happens). */
  connectionsSettled(n: number, ms = 2000): Promise<void> {
    if (this.conns.size === n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (this.conns.size !== n) return;
        clearTimeout(timer);
        this.connWaiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.connWaiters.delete(waiter);
        reject(new Error(`${this.conns.size} connection(s) open, not ${n}, after ${ms} ms`));
      }, ms);
      this.connWaiters.add(waiter);
    });
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.terminate();
    for (const l of this.listeners) l.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- internal ---

  private listen(path: string, domid: number): void {
    const listener = Bun.listen<unknown>({
      unix: path,
      socket: {
        open: (socket) => {
          this.conns.add({ state: new ConnectionState(domid), socket, parser: initialParserState, outbox: [] });
        },
        data: (socket, data) => {
          const conn = [...this.conns].find((c) => c.socket === socket);
          if (conn) this.receive(conn, new Uint8Array(data));
        },
        drain: (socket) => {
          const conn = [...this.conns].find((c) => c.socket === socket);
          if (conn) this.drain(conn);
        },
        close: (socket) => {
          for (const c of this.conns) if (c.socket === socket) this.conns.delete(c);
          for (const w of [...this.connWaiters]) w();
        },
      },
    });
    this.listeners.push(listener);
  }

  private receive(conn: Conn, chunk: Uint8Array): void {
    const { state, items } = parse(conn.parser, chunk);
    conn.parser = state;
    for (const item of items) {
      if (item.kind !== "message") {
        conn.socket.end(); // what xenstored does to a client breaking the protocol
        return;
      }
      this.answer(conn, item.message);
    }
  }

  private answer(conn: Conn, msg: Message): void {
    if (this.swallow > 0) {
      this.swallow--;
      return;
    }
    let reply: Message;
    try {
      const payload = conn.state.handle(msg, this.serverState);
      reply = { type: msg.type, reqId: msg.reqId, txId: msg.txId, payload };
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      reply = { type: MsgType.ERROR, reqId: msg.reqId, txId: msg.txId, payload: nulTerminated(e.code) };
    }
    const rewrite = this.rewrite;
    this.rewrite = undefined;
    this.reply(conn, rewrite ? rewrite(reply) : frame(reply));
    // xenstored queues the initial watch event after the WATCH reply.
    if (msg.type === MsgType.WATCH && reply.type === MsgType.WATCH) {
      const w = conn.state.watches[conn.state.watches.length - 1]!;
      this.reply(conn, watchEvent(w.path, w.token));
    }
  }

  private reply(conn: Conn, bytes: Uint8Array): void {
    if (this.reorder.left > 0) {
      this.reorder.held.push([conn, bytes]);
      if (--this.reorder.left === 0) {
        for (const [c, b] of this.reorder.held.reverse()) this.reply(c, b);
        this.reorder.held = [];
      }
      return;
    }
    if (this.paceMs > 0) {
      const now = performance.now();
      const at = Math.max(now, conn.nextReplyAt ?? 0);
      conn.nextReplyAt = at + this.paceMs;
      setTimeout(() => this.send(conn, bytes), at - now);
    } else if (this.delayMs > 0) setTimeout(() => this.send(conn, bytes), this.delayMs);
    else this.send(conn, bytes);
  }

  private send(conn: Conn, bytes: Uint8Array): void {
    conn.outbox.push(bytes);
    this.drain(conn);
  }

  private drain(conn: Conn): void {
    while (conn.outbox.length > 0) {
      const head = conn.outbox[0]!;
      const n = conn.socket.write(head);
      if (n < 0) return;
      if (n < head.length) {
        conn.outbox[0] = head.subarray(n);
        return;
      }
      conn.outbox.shift();
    }
  }

  /** Watch events for committed changes: the changed path, or the watch itself when an ancestor went. */
  private fire(changes: Change[]): void {
    for (const ch of changes) {
      for (const conn of this.conns) {
        // A guest only hears about nodes it may read (C xenstored fire_watches).
        if (!this.store.canRead(ch.node, conn.state.domid)) continue;
        for (const w of conn.state.watches) {
          let eventPath: string | undefined;
          if (isUnder(ch.path, w.abs)) eventPath = ch.path;
          else if (ch.removed && isUnder(w.abs, ch.path)) eventPath = w.abs;
          if (eventPath === undefined) continue;
          this.watchEventsSent.push({ domid: conn.state.domid, path: eventPath });
          this.send(conn, watchEvent(relativeTo(eventPath, w), w.token));
        }
      }
    }
  }
}

function watchEvent(path: string, token: string): Uint8Array {
  return frame({ type: MsgType.WATCH_EVENT, reqId: 0, txId: 0, payload: nulTerminated(path, token) });
}

/** Relative watches get relative event paths (the watch's own prefix removed). */
function relativeTo(path: string, w: { path: string; abs: string }): string {
  if (w.path.startsWith("/")) return path;
  const home = w.abs.slice(0, w.abs.length - w.path.length);
  return path.startsWith(home) ? path.slice(home.length) : path;
}
