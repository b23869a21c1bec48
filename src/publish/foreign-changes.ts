// Noticing that someone else changed or removed what the agent wrote (dom0 running
// `xenstore-rm attr/vif`, a tool overwriting data/os_name), so the mirror is corrected and the
// keys are written again within a round trip, without polling and without reading back the
// agent's own writes.
//
// A watch on each of the schema's few watched roots reports every change below it, the agent's
// own writes included. Those are expected: the target wrapper counts each write and removal it
// sends, and one event per path is taken off the count. Any other event that touches a key the
// agent has written costs one READ of that path: gone, or not the value written, and the pipeline
// forgets it (and what is below), so the next publish writes it again. Events elsewhere (dom0's
// control/shutdown, the toolstack's own keys) cost nothing. At rest the only traffic is one event
// per own write (a memory tick: one).
import type { Logger } from "../log/logger.ts";
import type { WatchingClient } from "../xenstore/client.ts";
import { XenstoreError } from "../xenstore/errors.ts";
import type { PublishTarget } from "./publisher.ts";

/**
 * An expectation older than this is dropped: a request that fired no event (an rm of a node that
 * was already gone, a write sent before the watch existed) must not hide a later foreign change.
 */
const EXPECTATION_TTL_MS = 10_000;

export interface ForeignChangeOptions {
  client: WatchingClient;
  /** Prefix of absolute paths on a privileged connection (tests); empty on a guest connection. */
  base: string;
  /** The schema's watched roots (relative). */
  roots: readonly string[];
  /** What the agent believes it wrote now (the current pipeline's mirror). */
  written(): ReadonlyMap<string, string>;
  /** `path` (and what is below it) is no longer what the agent wrote. */
  changed(path: string): void;
  log: Logger;
  now?: () => number;
}

export class ForeignChangeWatch {
  private readonly expected = new Map<string, { count: number; at: number }>();
  private readonly handles: { unwatch(): Promise<void> }[] = [];
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: ForeignChangeOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** `inner` with every request counted as an expected event. */
  wrap(inner: PublishTarget): PublishTarget {
    const counted = (path: string, send: () => Promise<void>): Promise<void> => {
      this.expect(path);
      return send().catch((e: unknown) => {
        this.unexpect(path); // refused: xenstored fired nothing
        throw e;
      });
    };
    return {
      name: inner.name,
      write: (path, value) => counted(path, () => inner.write(path, value)),
      rm: (path) => counted(path, () => inner.rm(path)),
    };
  }

  /** Registers the root watches (each WATCH goes alone on the wire; see src/xenstore/connection.ts). */
  async start(): Promise<void> {
    const { base, roots, client } = this.opts;
    for (const root of roots) {
      if (this.closed) return;
      let first = true;
      const abs = base ? `${base}/${root}` : root;
      this.handles.push(await client.watch(abs, (eventPath) => {
        if (first && eventPath === abs) {
          first = false; // the registration's own event
          return;
        }
        this.onEvent(base && eventPath.startsWith(`${base}/`) ? eventPath.slice(base.length + 1) : eventPath);
      }));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.handles.splice(0).map((h) => h.unwatch()));
  }

  private expect(path: string): void {
    const e = this.expected.get(path);
    const now = this.now();
    if (e && now - e.at < EXPECTATION_TTL_MS) {
      e.count++;
      e.at = now;
    } else {
      this.expected.set(path, { count: 1, at: now });
    }
  }

  private unexpect(path: string): boolean {
    const e = this.expected.get(path);
    if (!e) return false;
    const fresh = this.now() - e.at < EXPECTATION_TTL_MS;
    if (--e.count <= 0 || !fresh) this.expected.delete(path);
    return fresh;
  }

  private onEvent(path: string): void {
    if (this.closed || this.unexpect(path)) return;
    const written = this.opts.written();
    const mine = written.has(path) || [...written.keys()].some((k) => k.startsWith(`${path}/`));
    if (!mine) return;
    void this.verify(path);
  }

  /** One READ decides: gone or different, and the keys there are written again. */
  private async verify(path: string): Promise<void> {
    const { client, base, log } = this.opts;
    let now: string | undefined;
    try {
      now = await client.read(base ? `${base}/${path}` : path);
    } catch (e) {
      if (!(e instanceof XenstoreError)) return; // the link: a reconnect republishes anyway
      now = undefined;
    }
    if (this.closed) return;
    const ours = this.opts.written().get(path);
    if (now === undefined) {
      log.info(`${path} was removed by someone else: writing it again`);
      this.opts.changed(path);
    } else if (ours !== undefined && now !== ours) {
      log.info(`${path} was changed by someone else: writing the agent's value again`);
      this.opts.changed(path);
    }
  }
}
