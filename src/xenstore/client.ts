// The xenstore client the agent uses: typed operations, watches, transactions. Transport-agnostic:
// it is handed a Transport and never names a path on the host or touches FFI.
//
// Longer than 300 lines: one method per xenstore operation, each small; the wire format is in
// codec.ts and the request multiplexing in connection.ts.
import { silentLogger, type Logger } from "../log/logger.ts";
import {
  decodeDirectoryPart,
  decodeList,
  decodeString,
  decodeValue,
  decodeWatchEvent,
  MsgType,
  nulTerminated,
  PAYLOAD_MAX,
  typeName,
  writePayload,
} from "./codec.ts";
import { Connection } from "./connection.ts";
import { XenstoreError, XenstoreProtocolError } from "./errors.ts";
import { pathProblem } from "./paths.ts";
import { runTransaction, type TransactionOptions } from "./transaction.ts";
import type { Transport } from "./transport.ts";

/** The operations a transaction body gets, bound to its transaction id. */
export interface XenstoreOps {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  rm(path: string): Promise<void>;
  directory(path: string): Promise<string[]>;
}

/** What the agent's watchers need from a connection (the lifecycle, SR-IOV, the tree guard). */
export interface WatchingClient {
  read(path: string): Promise<string>;
  directory(path: string): Promise<string[]>;
  watch(path: string, onEvent: (eventPath: string) => void): Promise<{ unwatch(): Promise<void> }>;
}

export interface XenstoreClientOptions {
  /** Per-request reply timeout; 0 disables it. Default 10 s. */
  timeoutMs?: number;
  log?: Logger;
  /** Requests written and not yet answered; more wait in order. Default 32. */
  maxInFlight?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

type WatchCallback = (eventPath: string) => void;

export class XenstoreClient implements XenstoreOps {
  readonly transport: string;
  private readonly conn: Connection;
  private readonly log: Logger;
  private readonly watches = new Map<string, WatchCallback>();
  private readonly lostListeners = new Set<(err: Error) => void>();
  private lost: Error | undefined;
  /** The transaction running now (transactions are serialised, see transaction()). */
  private transactions: Promise<void> = Promise.resolve();
  private nextToken = 1;

  constructor(transport: Transport, opts: XenstoreClientOptions = {}) {
    this.transport = transport.name;
    this.log = opts.log ?? silentLogger;
    this.conn = new Connection(transport, {
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      log: this.log,
      maxInFlight: opts.maxInFlight,
      onWatchEvent: (payload) => this.onWatchEvent(payload),
      onLost: (err) => this.onLost(err),
    });
  }

  read(path: string): Promise<string> {
    return this.readIn(0, path);
  }
  write(path: string, value: string): Promise<void> {
    return this.writeIn(0, path, value);
  }
  mkdir(path: string): Promise<void> {
    return this.simple(MsgType.MKDIR, 0, path);
  }
  rm(path: string): Promise<void> {
    return this.simple(MsgType.RM, 0, path);
  }
  directory(path: string): Promise<string[]> {
    return this.directoryIn(0, path);
  }

  async getPerms(path: string): Promise<string[]> {
    return decodeList(await this.pathRequest(MsgType.GET_PERMS, 0, path));
  }

  /** Permissions as xenstored spells them: `n0` (owner 0, others none), `r5`, `w5`, `b5`. */
  async setPerms(path: string, perms: string[]): Promise<void> {
    for (const p of perms) {
      if (!/^[nrwb]\d+$/.test(p)) throw new XenstoreError("EINVAL", "SET_PERMS", path, `bad permission ${JSON.stringify(p)}`);
    }
    checkPath("SET_PERMS", path);
    await this.conn.request(MsgType.SET_PERMS, nulTerminated(path, ...perms), 0, path);
  }

  async getDomainPath(domid: number): Promise<string> {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) {
      throw new XenstoreError("EINVAL", "GET_DOMAIN_PATH", String(domid), "not a domain id");
    }
    return decodeString(await this.conn.request(MsgType.GET_DOMAIN_PATH, nulTerminated(String(domid))));
  }

  /**
   * Registers a watch on `path` and its descendants. xenstored fires one event right away (with
   * `path` itself), then one per change; a relative `path` gets relative event paths. Events
   * can be spurious: callers re-read the state instead of trusting the event.
   */
  async watch(path: string, onEvent: (eventPath: string) => void): Promise<{ unwatch(): Promise<void> }> {
    checkPath("WATCH", path);
    // Tokens are ours to choose; a counter keeps two watches on one path apart.
    const token = `xga${this.nextToken++}`;
    // Registered before sending: the initial event may arrive before or after the OK.
    this.watches.set(token, onEvent);
    try {
      await this.conn.request(MsgType.WATCH, nulTerminated(path, token), 0, path);
    } catch (e) {
      this.watches.delete(token);
      throw e;
    }
    let active = true;
    return {
      unwatch: async () => {
        if (!active) return;
        active = false;
        this.watches.delete(token);
        await this.conn.request(MsgType.UNWATCH, nulTerminated(path, token), 0, path);
      },
    };
  }

  /**
   * Runs `body` in a transaction and commits it. On EAGAIN (a conflicting change, from the
   * commit or from any operation) the whole body runs again, up to `maxAttempts` times with
   * jittered exponential backoff; any other error aborts the transaction and is rethrown.
   */
  transaction<T>(body: (tx: XenstoreOps) => Promise<T>, opts?: TransactionOptions): Promise<T> {
    // One transaction at a time on a connection: two interleaved transactions on a guest ring were
    // seen to leave a TRANSACTION_END unanswered (C xenstored behind the guest bridge, about one
    // run in three), and the agent's transactions are few and short.
    const run = this.transactions.then(() => this.runOne(body, opts));
    this.transactions = run.then(() => {}, () => {});
    return run;
  }

  private runOne<T>(body: (tx: XenstoreOps) => Promise<T>, opts?: TransactionOptions): Promise<T> {
    return runTransaction(
      {
        start: async () => {
          const reply = decodeString(await this.conn.request(MsgType.TRANSACTION_START, nulTerminated("")));
          // tx_id 0 means "no transaction": a reply that is not a positive id must not become one.
          const txId = /^\d+$/.test(reply) ? Number(reply) : 0;
          if (txId <= 0 || txId > 0xffffffff) throw new XenstoreProtocolError(`TRANSACTION_START: bad id ${JSON.stringify(reply)}`);
          return txId;
        },
        end: async (txId, commit) => {
          await this.conn.request(MsgType.TRANSACTION_END, nulTerminated(commit ? "T" : "F"), txId);
        },
        ops: (txId) => ({
          read: (p) => this.readIn(txId, p),
          write: (p, v) => this.writeIn(txId, p, v),
          mkdir: (p) => this.simple(MsgType.MKDIR, txId, p),
          rm: (p) => this.simple(MsgType.RM, txId, p),
          directory: (p) => this.directoryIn(txId, p),
        }),
        log: this.log,
      },
      body,
      opts,
    );
  }

  /** `cb` runs once when the connection is lost (not after close()). Returns an unsubscriber. */
  onConnectionLost(cb: (err: Error) => void): () => void {
    if (this.lost) {
      const err = this.lost;
      queueMicrotask(() => cb(err));
      return () => {};
    }
    this.lostListeners.add(cb);
    return () => this.lostListeners.delete(cb);
  }

  /** Closes the connection; requests in flight fail with XenstoreConnectionError. */
  close(): void {
    this.lostListeners.clear();
    this.watches.clear();
    this.conn.close();
  }

  // --- internal ---

  private async readIn(txId: number, path: string): Promise<string> {
    return decodeValue(await this.pathRequest(MsgType.READ, txId, path));
  }

  private async writeIn(txId: number, path: string, value: string): Promise<void> {
    checkPath("WRITE", path);
    const payload = writePayload(path, value);
    if (payload.length > PAYLOAD_MAX) throw new XenstoreError("E2BIG", "WRITE", path, `payload over ${PAYLOAD_MAX} bytes`);
    await this.conn.request(MsgType.WRITE, payload, txId, path);
  }

  private async simple(type: number, txId: number, path: string): Promise<void> {
    await this.pathRequest(type, txId, path);
  }

  /**
   * DIRECTORY, falling back to DIRECTORY_PART when the listing does not fit in one reply
   * (xenstored answers E2BIG). Parts are fetched by byte offset; if the node's generation
   * changes between parts the listing starts over, as libxenstore's xs_directory_part does.
   */
  private async directoryIn(txId: number, path: string): Promise<string[]> {
    let tooBig: XenstoreError;
    try {
      return decodeList(await this.pathRequest(MsgType.DIRECTORY, txId, path));
    } catch (e) {
      if (!(e instanceof XenstoreError && e.code === "E2BIG")) throw e;
      tooBig = e;
    }
    try {
      return await this.directoryParts(txId, path);
    } catch (e) {
      // oxenstored 4.17 has no DIRECTORY_PART (ENOSYS): the E2BIG is the useful answer.
      if (e instanceof XenstoreError && e.code === "ENOSYS") throw tooBig;
      throw e;
    }
  }

  private async directoryParts(txId: number, path: string): Promise<string[]> {
    for (let restarts = 0; restarts < 8; restarts++) {
      const children: string[] = [];
      let offset = 0;
      let generation: string | undefined;
      for (;;) {
        const reply = await this.conn.request(
          MsgType.DIRECTORY_PART,
          nulTerminated(path, String(offset)),
          txId,
          path,
        );
        const part = decodeDirectoryPart(reply);
        if (!part) throw new XenstoreProtocolError(`DIRECTORY_PART ${path}: malformed reply`);
        if (generation !== undefined && part.generation !== generation) break;
        generation = part.generation;
        for (const c of part.children) {
          children.push(c);
          offset += Buffer.byteLength(c) + 1;
        }
        if (part.done) return children;
        if (part.children.length === 0) throw new XenstoreProtocolError(`DIRECTORY_PART ${path}: no progress`);
      }
    }
    throw new XenstoreError("EAGAIN", "DIRECTORY_PART", path);
  }

  private pathRequest(type: number, txId: number, path: string): Promise<Uint8Array> {
    try {
      checkPath(typeName(type), path);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.conn.request(type, nulTerminated(path), txId, path);
  }

  private onWatchEvent(payload: Uint8Array): void {
    const ev = decodeWatchEvent(payload);
    if (!ev) {
      this.log.warn(`${this.transport}: dropped a malformed WATCH_EVENT`);
      return;
    }
    const cb = this.watches.get(ev.token);
    // Unknown tokens are normal right after unwatch (events already queued); drop them.
    if (!cb) return;
    cb(ev.path);
  }

  private onLost(err: Error): void {
    this.lost = err;
    this.log.warn(`connection lost: ${err.message}`);
    const listeners = [...this.lostListeners];
    this.lostListeners.clear();
    for (const cb of listeners) {
      try {
        cb(err);
      } catch (e) {
        this.log.error(`connection-lost listener failed: ${(e as Error).message}`);
      }
    }
  }
}

function checkPath(op: string, path: string): void {
  const problem = pathProblem(path);
  if (problem !== undefined) throw new XenstoreError("EINVAL", op, path, problem);
}
