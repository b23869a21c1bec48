// Request/reply multiplexing over one transport: many requests in flight, replies matched by
// req_id (xs_wire.h allows any order), watch events handed to one listener, per-request timeouts,
// and a single "connection lost" signal that fails everything in flight.
import type { Logger } from "../log/logger.ts";
import {
  decodeError,
  encodeMessage,
  initialParserState,
  MsgType,
  parse,
  PAYLOAD_MAX,
  typeName,
  type Message,
  type Parsed,
  type ParserState,
} from "./codec.ts";
import {
  XenstoreConnectionError,
  XenstoreError,
  XenstoreProtocolError,
  XenstoreTimeoutError,
} from "./errors.ts";
import type { Transport } from "./transport.ts";

interface Pending {
  type: number;
  /** The encoded request while it waits for a free slot; undefined once written. */
  unsent: Uint8Array | undefined;
  path: string | undefined;
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface ConnectionOptions {
  timeoutMs: number;
  log: Logger;
  /** A WATCH_EVENT arrived (payload `path\0token\0`, still encoded). */
  onWatchEvent(payload: Uint8Array): void;
  /** The connection is gone; called once, after every pending request has been failed. */
  onLost(err: Error): void;
  /** Requests written and not yet answered; more wait in order. Default 32. */
  maxInFlight?: number;
}

/**
 * Why a window: a Unix socket accounts ~1 KiB of buffer per small write, so a few hundred
 * pipelined requests fill it; the next write() would then block the event loop while the peer
 * (xsshim-guest, or xenstored itself) blocks writing replies we are not reading: a deadlock,
 * seen with 1000 pipelined writes. C xenstored also stops reading a domain's ring after 20
 * outstanding requests (quota-outstanding), so a deeper pipeline buys nothing.
 */
const DEFAULT_MAX_IN_FLIGHT = 32;

/** A request behind a slow but answering daemon gives up after this many timeouts in all. */
export const PROGRESS_CAP = 6;

/**
 * WATCH and UNWATCH are sent alone: only when nothing else is in flight, and nothing else until
 * their reply. On /dev/xen/xenbus the Linux driver handles them synchronously inside write(),
 * holding the open file's msgbuffer_mutex while it waits for xenstored's answer
 * (xenbus_file_write → xenbus_write_watch → register_xenbus_watch), and the kernel's xenbus thread
 * takes that same mutex to deliver every reply to this file (xenbus_dev_queue_reply). If a reply to
 * an earlier request is ahead of the WATCH reply in the ring, the xenbus thread blocks on the mutex,
 * the WATCH reply is never read, and the guest's whole xenstore connection is dead (seen under
 * oxenstored in about half of the real-Xen runs: the kernel, not the daemon, deadlocks). Watches
 * are rare, so the same rule holds on every transport.
 */
const SENT_ALONE = new Set<number>([MsgType.WATCH, MsgType.UNWATCH]);

/** Oversized replies beyond this are not skipped but taken as a desynchronised stream. */
const RESYNC_LIMIT = 1 << 20;

export class Connection {
  private parser: ParserState = initialParserState;
  private readonly pending = new Map<number, Pending>();
  /** req_ids waiting for a slot, oldest first. */
  private readonly queue: number[] = [];
  private written = 0;
  /** A WATCH/UNWATCH is written and unanswered: nothing else may be written (see SENT_ALONE). */
  private aloneInFlight = false;
  private nextReqId = 1;
  /** When this connection last got a reply to one of its requests (performance.now()). */
  private lastReplyAt = 0;
  private dead: Error | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly opts: ConnectionOptions,
  ) {
    transport.open({
      data: (chunk) => this.receive(chunk),
      closed: (err) => this.fail(new XenstoreConnectionError(`${transport.name}: ${err.message}`, { cause: err })),
    });
  }

  /** Sends one request; resolves with the reply payload, rejects with a typed error. */
  request(type: number, payload: Uint8Array, txId = 0, path?: string): Promise<Uint8Array> {
    if (this.dead) return Promise.reject(this.dead);
    const reqId = this.allocateReqId();
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage({ type, reqId, txId, payload });
    } catch (e) {
      // Refused before sending: xenstored would kill a connection that sent > 4096 bytes.
      if (payload.length > PAYLOAD_MAX) return Promise.reject(new XenstoreError("E2BIG", typeName(type), path));
      return Promise.reject(new XenstoreProtocolError((e as Error).message));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(reqId, { type, unsent: bytes, path, resolve, reject, timer: undefined });
      this.queue.push(reqId);
      this.flush();
    });
  }

  /** Closes the transport and fails what is in flight. Does not signal onLost: the caller chose this. */
  close(): void {
    if (this.dead) return;
    this.dead = new XenstoreConnectionError(`${this.transport.name}: connection closed`);
    this.transport.close();
    this.rejectAll(this.dead);
  }

  // --- internal ---

  /**
   * Writes queued requests, in order, while the window has room; a WATCH/UNWATCH waits until
   * nothing is in flight and then goes alone. A write failure kills the connection.
   */
  private flush(): void {
    const max = this.opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    while (!this.dead && !this.aloneInFlight && this.queue.length > 0) {
      const reqId = this.queue[0]!;
      const p = this.pending.get(reqId);
      if (!p?.unsent) {
        this.queue.shift(); // settled while queued
        continue;
      }
      const alone = SENT_ALONE.has(p.type);
      if (alone ? this.written > 0 : this.written >= max) break;
      this.queue.shift();
      const bytes = p.unsent;
      p.unsent = undefined;
      this.written++;
      this.aloneInFlight = alone;
      this.startTimer(reqId, p);
      try {
        this.transport.write(bytes);
      } catch (e) {
        const err = e instanceof XenstoreConnectionError ? e : new XenstoreConnectionError(String(e), { cause: e });
        this.fail(err);
      }
    }
  }

  /**
   * The reply timeout runs from the moment the request is written, not queued: a request waiting
   * behind others has not been asked yet. While the daemon keeps answering this connection's
   * earlier requests it is alive, only slow: C xenstored's write rate limit (in force whenever any
   * transaction is open) serves a guest about 200/N writes a second, so the last of 25 pipelined
   * writes can wait 12 s with the daemon answering all along, and giving up then would only start
   * the whole republish again. So a request fails when nothing has been answered for the timeout
   * since it was sent, or after PROGRESS_CAP timeouts in all. Then the daemon or the ring is stuck
   * (or the reply went to another req_id): everything after it would wait forever, watches
   * included, so the connection is declared lost and the owner reconnects.
   */
  private startTimer(reqId: number, p: Pending): void {
    const { timeoutMs } = this.opts;
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return;
    const sentAt = performance.now();
    const arm = (ms: number): void => {
      p.timer = setTimeout(() => {
        const now = performance.now();
        const quiet = now - Math.max(sentAt, this.lastReplyAt);
        if (quiet < timeoutMs && now - sentAt < PROGRESS_CAP * timeoutMs) return arm(timeoutMs - quiet);
        const where = p.path === undefined ? "" : ` ${p.path}`;
        const why = quiet >= timeoutMs ? `no reply within ${timeoutMs} ms` : `no reply within ${PROGRESS_CAP * timeoutMs} ms (others were answered)`;
        const err = new XenstoreTimeoutError(`${typeName(p.type)}${where}: ${why}`);
        this.settle(reqId)?.reject(err);
        this.fail(new XenstoreConnectionError(`${this.transport.name}: ${err.message}; reconnecting`, { cause: err }));
        this.transport.close();
      }, ms);
    };
    arm(timeoutMs);
  }

  private allocateReqId(): number {
    // req_id is any uint32 the client likes; skip ids still in flight after a wrap-around.
    for (;;) {
      const id = this.nextReqId;
      this.nextReqId = (this.nextReqId + 1) >>> 0;
      if (!this.pending.has(id)) return id;
    }
  }

  private receive(chunk: Uint8Array): void {
    if (this.dead) return;
    const { state, items } = parse(this.parser, chunk);
    this.parser = state;
    for (const item of items) {
      try {
        this.dispatch(item);
      } catch (e) {
        // A listener threw: that is its bug, not the connection's. Log and keep going.
        this.opts.log.error(`watch or reply handler failed: ${(e as Error).message}`);
      }
    }
  }

  private dispatch(item: Parsed): void {
    if (item.kind !== "message") {
      const what = item.kind === "oversized" ? `a ${item.len}-byte payload (max 4096)` : `unknown ${typeName(item.type)}`;
      const err = new XenstoreProtocolError(`${this.transport.name}: peer sent ${what} for req_id ${item.reqId}`);
      this.opts.log.warn(err.message);
      if (item.kind === "oversized" && item.len > RESYNC_LIMIT) {
        this.fail(new XenstoreConnectionError(`${this.transport.name}: stream out of sync`, { cause: err }));
        this.transport.close();
        return;
      }
      this.settle(item.reqId)?.reject(err);
      return;
    }
    const msg = item.message;
    if (msg.type === MsgType.WATCH_EVENT) {
      this.opts.onWatchEvent(msg.payload);
      return;
    }
    const p = this.settle(msg.reqId) ?? this.settleZeroedWatchReply(msg);
    if (!p) {
      this.opts.log.warn(`${this.transport.name}: dropped a ${typeName(msg.type)} reply for unknown req_id ${msg.reqId} (timed out?)`);
      return;
    }
    this.lastReplyAt = performance.now();
    this.complete(p, msg);
  }

  private complete(p: Pending, msg: Message): void {
    const op = typeName(p.type);
    if (msg.type === MsgType.ERROR) {
      const code = decodeError(msg.payload);
      if (code) p.reject(new XenstoreError(code, op, p.path));
      else p.reject(new XenstoreProtocolError(`${op}: malformed ERROR reply`));
    } else if (msg.type !== p.type) {
      p.reject(new XenstoreProtocolError(`${op}: reply of type ${typeName(msg.type)}`));
    } else {
      p.resolve(msg.payload);
    }
  }

  private settle(reqId: number): Pending | undefined {
    const p = this.pending.get(reqId);
    if (!p) return undefined;
    this.pending.delete(reqId);
    if (p.timer) clearTimeout(p.timer);
    if (p.unsent === undefined) {
      this.written--;
      if (SENT_ALONE.has(p.type)) this.aloneInFlight = false;
      if (!this.dead) queueMicrotask(() => this.flush());
    }
    return p;
  }

  /**
   * Old Linux xenbus drivers answered XS_WATCH/XS_UNWATCH themselves with req_id 0 instead of the
   * caller's (xenbus_dev_frontend.c before the req_id was saved and restored): such a reply goes
   * to the oldest request of that type in flight, as those drivers answer in order.
   */
  private settleZeroedWatchReply(msg: Message): Pending | undefined {
    if (msg.reqId !== 0 || (msg.type !== MsgType.WATCH && msg.type !== MsgType.UNWATCH)) return undefined;
    for (const [id, p] of this.pending) {
      if (p.type === msg.type && p.unsent === undefined) return this.settle(id);
    }
    return undefined;
  }

  private rejectAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    this.rejectAll(err);
    this.opts.onLost(err);
  }
}
