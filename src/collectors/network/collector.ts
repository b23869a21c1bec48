// The network collector: one rtnetlink socket, a kernel-equivalent table, batches of changes.
//
// - Subscribe first (bind with the groups), then dump links, then addresses, on the same socket.
//   Dump replies and events then share one receive queue in the kernel's order, so applying them
//   in arrival order is causally right; dump replies are told apart by our port id and the dump's
//   sequence number (events carry the changer's port id, or 0).
// - A dump reconciles (mark and sweep, see table.ts). ENOBUFS (lost events), a broken framing, an
//   interrupted dump (NLM_F_DUMP_INTR) or `resync()` queue a full re-dump after the running one.
// - Batches (coalescer.ts): a change after a quiet period goes out at the end of its read, a burst
//   once it has been quiet for `coalesceMs` (at most MAX_BATCH_DELAY_MS late); no timer while
//   idle. A batch goes out only if the snapshot differs from the last one, and never while a dump
//   is incomplete.
//
// Longer than 300 lines: the dump/event state machine above is one piece; its pure parts already
// live in rtnetlink.ts (codec), table.ts (state) and coalescer.ts (timing).
import type { NetworkFacts } from "../../facts/facts.ts";
import type { HostRoot } from "../host-root.ts";
import type { Logger } from "../../log/logger.ts";
import { openRtnetlink, type RtnetlinkSocket } from "../../../native/index.ts";
import { readSocket, type SocketReader } from "../../../native/index.ts";
import { errnoName } from "../../../native/index.ts";
import {
  decodeChunk, encodeDumpRequest, type Message, NLM_F_DUMP_INTR,
  RTM_GETADDR, RTM_GETLINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK,
} from "./rtnetlink.ts";
import { type DumpKind, NetTable } from "./table.ts";
import { type SriovLookup, ToolstackClassifier } from "./vif.ts";
import { Coalescer } from "./coalescer.ts";

export interface NetworkCollectorOptions {
  root: HostRoot;
  log: Logger;
  /** Quiet time that ends a burst, in ms (default 10; 0 delivers every read's changes). */
  coalesceMs?: number;
  /** Socket receive buffer asked for (default 4 MiB; the kernel doubles it). */
  receiveBufferBytes?: number;
  sriov?: SriovLookup;
  /** false: no event subscription, for a one-shot dump (`collectNetworkOnce`). Default true. */
  subscribe?: boolean;
}

export interface NetworkCollectorStats {
  /** Socket overruns (ENOBUFS) seen. */
  overruns: number;
  /** Dumps completed (a full sync is two: links, addresses). */
  dumps: number;
  batches: number;
  /** Messages skipped: malformed, or failed to apply. */
  malformed: number;
  /** The receive buffer the kernel granted, and whether SO_RCVBUFFORCE was permitted. */
  receiveBufferBytes: number;
  forced: boolean;
}

type Listener = (facts: NetworkFacts) => void;
const MAX_WARNINGS = 5;
const ENOBUFS = 105;
/** However long a storm of changes lasts, it is published at least this often (or every coalesceMs if longer). */
const MAX_BATCH_DELAY_MS = 250;
/** A dump that has not ended by then is given up and redone (it should take milliseconds). */
const DUMP_TIMEOUT_MS = 15_000;

export class NetworkCollector {
  private readonly opts: NetworkCollectorOptions;
  private readonly log: Logger;
  private readonly table = new NetTable();
  private readonly classifier: ToolstackClassifier;
  private readonly listeners = new Set<Listener>();
  private sock?: RtnetlinkSocket;
  private reader?: SocketReader;
  private seq = 0;
  private dump: { kind: DumpKind; seq: number; interrupted: boolean } | null = null;
  private queue: DumpKind[] = [];
  private resyncPending = false;
  private retryMs = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private dumpTimer?: ReturnType<typeof setTimeout>;
  private first?: { resolve(f: NetworkFacts): void; reject(e: Error): void };
  private ready = false;
  private stopped = false;
  private readonly batch: Coalescer;
  private lastKey = "";
  private last: NetworkFacts = { interfaces: [] };
  private readonly counters = { overruns: 0, dumps: 0, batches: 0, malformed: 0 };

  constructor(opts: NetworkCollectorOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.classifier = new ToolstackClassifier(opts.root, opts.log, opts.sriov);
    const ready = () => this.ready && !this.dump && this.queue.length === 0 && !this.stopped;
    this.batch = new Coalescer({ windowMs: opts.coalesceMs ?? 10, maxWindowMs: Math.max(MAX_BATCH_DELAY_MS, opts.coalesceMs ?? 10) }, ready, () => this.flush());
  }

  /**
   * Opens the socket (synchronously, in the caller's network namespace), subscribes, dumps, and
   * resolves with the first full snapshot. Rejects if the socket cannot be opened or the dump fails.
   */
  start(): Promise<NetworkFacts> {
    if (this.sock || this.stopped) return Promise.reject(new Error("network collector already started"));
    const groups = this.opts.subscribe === false ? 0 : RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    let sock: RtnetlinkSocket;
    try {
      sock = openRtnetlink({ groups, receiveBufferBytes: this.opts.receiveBufferBytes ?? 4 << 20 });
    } catch (e) {
      return Promise.reject(e);
    }
    this.sock = sock;
    if (!sock.forced) this.log.info(`SO_RCVBUFFORCE not permitted; receive buffer is ${sock.receiveBufferBytes} bytes`);
    const done = new Promise<NetworkFacts>((resolve, reject) => (this.first = { resolve, reject }));
    this.reader = readSocket(sock.fd, {
      data: (chunk) => this.onChunk(chunk),
      error: (err) => this.onReadError(err.code, err.message),
      end: () => this.log.error("rtnetlink socket closed by the kernel; network facts are frozen"),
    });
    this.fullDump();
    return done;
  }

  /** The last delivered snapshot (start()'s, then each batch's). */
  snapshot(): NetworkFacts {
    return this.last;
  }

  onChange(cb: Listener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Re-dump everything and reconcile (after resume, or whenever events may have been lost). */
  resync(): void {
    if (this.ready && !this.stopped) this.fullDump();
  }

  /** Re-runs VIF / SR-IOV detection for every link (the SR-IOV listing in xenstore changed). */
  reclassify(): void {
    if (this.stopped) return;
    for (const l of this.table.linkIdentities()) {
      if (this.table.setToolstack(l.ifindex, this.classifier.classify(l.name, l.mac))) this.batch.mark();
    }
    this.batch.settle();
  }

  stats(): NetworkCollectorStats {
    return { ...this.counters, receiveBufferBytes: this.sock?.receiveBufferBytes ?? 0, forced: this.sock?.forced ?? false };
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.batch.cancel();
    clearTimeout(this.retryTimer);
    clearTimeout(this.dumpTimer);
    this.reader?.stop();
    this.sock?.close();
    this.first?.reject(new Error("network collector stopped"));
    this.first = undefined;
  }

  private onChunk(chunk: Uint8Array): void {
    if (this.stopped) return;
    for (const msg of decodeChunk(chunk)) {
      try {
        this.handle(msg);
      } catch (e) {
        this.warn(`message type ${"header" in msg ? msg.header?.type : "?"} not applied: ${(e as Error).message}`);
      }
    }
    this.batch.settle();
  }

  private handle(msg: Message): void {
    const ours = this.dump !== null && "header" in msg && msg.header !== undefined &&
      msg.header.seq === this.dump.seq && msg.header.pid === this.sock!.portId;
    switch (msg.kind) {
      case "link": {
        if (ours && msg.header.flags & NLM_F_DUMP_INTR) this.dump!.interrupted = true;
        const r = this.table.applyLink(msg.link);
        if (r.identity && msg.link.op === "new") {
          this.table.setToolstack(msg.link.ifindex, this.classifier.classify(msg.link.name!, msg.link.mac));
        }
        if (r.changed) this.batch.mark();
        return;
      }
      case "addr":
        if (ours && msg.header.flags & NLM_F_DUMP_INTR) this.dump!.interrupted = true;
        if (this.table.applyAddr(msg.addr, ours)) this.batch.mark();
        return;
      case "done":
        if (!ours) return;
        if (msg.header.flags & NLM_F_DUMP_INTR) this.dump!.interrupted = true;
        this.finishDump();
        return;
      case "error":
        // ENOBUFS acknowledging a dump request: netlink_dump_start (net/netlink/af_netlink.c) could
        // not queue the first part, but the dump stays running and resumes as we drain the queue.
        if (ours && msg.errno !== 0 && msg.errno !== ENOBUFS) this.failDump(`${errnoName(msg.errno)} from the kernel`);
        return;
      case "ignored":
        return;
      case "malformed":
        this.warn(`malformed rtnetlink message skipped: ${msg.reason}`);
        // Without a header the rest of the read could not be framed: events may be lost.
        if (!msg.header) this.fullDump();
        return;
    }
  }

  private onReadError(code: string, message: string): boolean {
    if (this.stopped) return false;
    if (code !== "ENOBUFS") {
      this.log.error(`reading rtnetlink failed (${message}); network facts are frozen`);
      return false;
    }
    // The kernel dropped events for us: the table may be wrong until a re-dump.
    this.counters.overruns++;
    this.log.info(`rtnetlink receive buffer overrun (${this.counters.overruns} so far); re-dumping`);
    this.fullDump();
    return true;
  }

  /** Queues links then addresses; if a dump is running, after it (the kernel runs one at a time). */
  private fullDump(): void {
    if (this.dump || this.queue.length > 0) {
      this.resyncPending = true;
      return;
    }
    this.queue = ["links", "addrs"];
    this.nextDump();
  }

  private nextDump(): void {
    const kind = this.queue.shift();
    if (!kind || this.stopped) return;
    this.seq = (this.seq % 0x7fffffff) + 1;
    this.dump = { kind, seq: this.seq, interrupted: false };
    this.table.beginDump(kind);
    this.dumpTimer = setTimeout(() => this.failDump(`no NLMSG_DONE within ${DUMP_TIMEOUT_MS} ms`), DUMP_TIMEOUT_MS);
    try {
      this.sock!.send(encodeDumpRequest(kind === "links" ? RTM_GETLINK : RTM_GETADDR, this.seq));
    } catch (e) {
      this.failDump((e as Error).message);
    }
  }

  private finishDump(): void {
    const { kind, interrupted } = this.dump!;
    this.dump = null;
    clearTimeout(this.dumpTimer);
    this.counters.dumps++;
    if (this.table.endDump(kind)) this.batch.mark();
    if (interrupted) this.queue.unshift(kind); // the table changed under the dump: do it again
    if (this.queue.length === 0 && this.resyncPending) {
      this.resyncPending = false;
      this.queue = ["links", "addrs"];
    }
    if (this.queue.length > 0) return this.nextDump();
    this.retryMs = 0;
    if (!this.ready) {
      this.ready = true;
      this.batch.clear();
      this.last = this.table.facts();
      this.lastKey = JSON.stringify(this.last);
      this.first?.resolve(this.last);
      this.first = undefined;
    }
  }

  /** A dump request failed: keep everything (no sweep on partial data) and retry with back-off. */
  private failDump(reason: string): void {
    const kind = this.dump?.kind ?? "links";
    this.table.abortDump(kind);
    this.dump = null;
    clearTimeout(this.dumpTimer);
    this.queue = [];
    this.resyncPending = false;
    if (!this.ready) {
      this.first?.reject(new Error(`rtnetlink ${kind} dump failed: ${reason}`));
      this.first = undefined;
      this.stop(); // start() failed: nothing of this collector stays open
      return;
    }
    this.retryMs = Math.min(Math.max(this.retryMs * 2, 100), 30_000);
    this.log.warn(`rtnetlink ${kind} dump failed (${reason}); retrying in ${this.retryMs} ms`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.fullDump(), this.retryMs);
  }

  private flush(): void {
    const facts = this.table.facts();
    const key = JSON.stringify(facts);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.last = facts;
    this.counters.batches++;
    for (const cb of this.listeners) {
      try {
        cb(facts);
      } catch (e) {
        this.log.error(`network change listener failed: ${(e as Error).message}`);
      }
    }
  }

  private warn(message: string): void {
    this.counters.malformed++;
    if (this.counters.malformed <= MAX_WARNINGS) this.log.warn(message);
    else this.log.debug(message);
  }
}

/** One dump of links and addresses for the `collect` command; no subscription, socket closed after. */
export async function collectNetworkOnce(root: HostRoot, log: Logger): Promise<NetworkFacts> {
  const c = new NetworkCollector({ root, log, subscribe: false, receiveBufferBytes: 1 << 20 });
  try {
    return await c.start();
  } finally {
    c.stop();
  }
}
