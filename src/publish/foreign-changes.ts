// Noticing that someone else changed or removed what the agent wrote (dom0 running
// `xenstore-rm attr/vif`, a tool overwriting data/os_name), so the mirror is corrected and the
// keys are written again within a round trip, without polling and without reading back the
// agent's own writes.
//
// A watch on each of the schema's watched keys reports every change at or below it, the agent's
// own writes included, and the key itself when an ancestor is removed. The agent's own events are
// expected: the target wrapper counts each write and removal it sends, and one event per path is
// taken off the count. Any other event that touches a key the agent has written is a suspect;
// suspects that arrive together (dom0 removing a subtree fires one event per watched key below
// it) are checked together after VERIFY_SETTLE_MS, one READ each: gone, or not the value written,
// and the pipeline forgets them (and what is below) in the same tick, so they are written again
// in one publish (one heartbeat). A removal also forgets the schema's unwatched keys (memory):
// they may have gone with the same ancestor, and nothing else would tell. Events elsewhere (dom0's
// control/shutdown, the toolstack's own keys) cost nothing. At rest there is no traffic at all:
// the memory key written on every tick is not watched.
import type { Logger } from "../log/logger.ts";
import type { WatchingClient } from "../xenstore/client.ts";
import { XenstoreError } from "../xenstore/errors.ts";
import type { PublishTarget } from "./publisher.ts";

/**
 * An expectation older than this is dropped: a request that fired no event (an rm of a node that
 * was already gone, a write sent before the watch existed) must not hide a later foreign change.
 */
const EXPECTATION_TTL_MS = 10_000;
/**
 * Suspects arriving within this of the first are checked together (one dom0 removal burst). Longer
 * than the triggers' settle (100 ms, lifecycle/supervisor.ts): when a migration's new
 * unique-domain-id comes with the removals, the republish is already pending when the check would
 * run, and it alone puts the tree right.
 */
export const VERIFY_SETTLE_MS = 150;

export interface ForeignChangeOptions {
  client: WatchingClient;
  /** Prefix of absolute paths on a privileged connection (tests); empty on a guest connection. */
  base: string;
  /** The schema's watched roots (relative). */
  roots: readonly string[];
  /** Owned keys not watched (the memory tick's): forgotten with any removal found. */
  unwatched: readonly string[];
  /** What the agent believes it wrote now (the current pipeline's mirror). */
  written(): ReadonlyMap<string, string>;
  /** `path` (and what is below it) is no longer what the agent wrote. */
  changed(path: string): void;
  log: Logger;
  now?: () => number;
  /** A republish is asked for or settling: it reads the whole tree back, so suspects need no READ. */
  republishPending?(): boolean;
  /** Moves each time a republish starts reading the tree back (what it found supersedes older READs). */
  republishEpoch?(): number;
}

export class ForeignChangeWatch {
  private readonly expected = new Map<string, { count: number; at: number }>();
  private readonly handles: { unwatch(): Promise<void> }[] = [];
  private readonly registered = new Set<string>();
  private closed = false;
  private readonly now: () => number;
  /** Events on the agent's keys waiting for the settle timer. */
  private readonly suspects = new Set<string>();
  private settleTimer: ReturnType<typeof setTimeout> | undefined;

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
      // A retry after a failed registration goes on where that one stopped (a second WATCH of
      // the same path and token would be refused with EEXIST).
      if (this.registered.has(root)) continue;
      let first = true;
      const abs = base ? `${base}/${root}` : root;
      // Requests sent before this WATCH fire nothing for it (one connection is processed in
      // order), so expecting their events would hide the next foreign change there.
      for (const path of this.expected.keys()) if (path === root || path.startsWith(`${root}/`)) this.expected.delete(path);
      this.handles.push(await client.watch(abs, (eventPath) => {
        if (first && eventPath === abs) {
          first = false; // the registration's own event
          return;
        }
        this.onEvent(base && eventPath.startsWith(`${base}/`) ? eventPath.slice(base.length + 1) : eventPath);
      }));
      this.registered.add(root);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.settleTimer);
    this.suspects.clear();
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
    this.suspects.add(path);
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = undefined;
      void this.verify();
    }, VERIFY_SETTLE_MS);
  }

  /** One READ per suspect decides: gone or different, and those keys are written again together. */
  private async verify(): Promise<void> {
    const { client, base, log } = this.opts;
    const paths = [...this.suspects];
    this.suspects.clear();
    // After a migration the removal events, the watches' re-registration events and the
    // triggers arrive together; the republish alone puts the tree right, once.
    const covered = () => this.opts.republishPending?.() ?? false;
    if (covered()) return;
    const epoch = this.opts.republishEpoch?.();
    const found = await Promise.all(paths.map(async (path): Promise<string | undefined | typeof LINK_LOST> => {
      try {
        return await client.read(base ? `${base}/${path}` : path);
      } catch (e) {
        return e instanceof XenstoreError ? undefined : LINK_LOST; // the link: a reconnect republishes anyway
      }
    }));
    if (this.closed || covered() || this.opts.republishEpoch?.() !== epoch) return;
    const written = this.opts.written();
    const removed: string[] = [];
    const overwritten: string[] = [];
    paths.forEach((path, i) => {
      const now = found[i];
      if (now === LINK_LOST) return;
      if (now === undefined) removed.push(path);
      else if (written.has(path) && now !== written.get(path)) overwritten.push(path);
    });
    if (removed.length) log.info(`${listed(removed)} removed by someone else: writing ${removed.length === 1 ? "it" : "them"} again`);
    if (overwritten.length) log.info(`${listed(overwritten)} changed by someone else: writing the agent's ${overwritten.length === 1 ? "value" : "values"} again`);
    for (const path of [...removed, ...overwritten]) this.opts.changed(path);
    if (removed.length) for (const path of this.opts.unwatched) if (written.has(path)) this.opts.changed(path);
  }
}

const LINK_LOST = Symbol("link lost");

/** A few paths by name, the rest counted (a subtree's removal is one line, not one per key). */
function listed(paths: readonly string[]): string {
  const shown = paths.slice(0, 3).join(", ");
  return paths.length > 3 ? `${shown} and ${paths.length - 3} more` : shown;
}
