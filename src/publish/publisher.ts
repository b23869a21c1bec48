// The publisher: keeps a mirror of what it wrote, sends only differences, in dom0's order.
//
// What each kind of answer does to a change (one place decides, nothing else retries):
//   done               the mirror takes it
//   EAGAIN             deferred: left out of the mirror, so the next publish sends it again; the
//                      pipeline schedules that publish with EAGAIN_BACKOFF (src/events/backoff.ts)
//   EQUOTA, ENOSPC…    refused: remembered and not sent again until room may have been made (a
//                      removal in the same or a later batch, which runs another pass) or a reset
//   EACCES on a write  denied: warned once, left out until a reset (control/ under plain xl)
//   ENOENT on a rm     done (already gone)
//   not a XenstoreError: the link itself failed (lost, closed, timed out, garbled): the batch
//                      stops with PublishAbortedError and the lifecycle reconnects
import type { Logger } from "../log/logger.ts";
import type { Tree } from "../schema/tree.ts";
import { XenstoreConnectionError, XenstoreError } from "../xenstore/errors.ts";
import { applyToMirror, planChanges, type Change, type PhaseOf } from "./plan.ts";

/** Where changes go: xenstore, or stdout for the console publisher. */
export interface PublishTarget {
  readonly name: string;
  write(path: string, value: string): Promise<void>;
  rm(path: string): Promise<void>;
}

/** There is no link right now (reconnecting): every request fails like a lost connection. */
export class NotConnectedError extends XenstoreConnectionError {
  override name = "NotConnectedError";
}

/** The target while no link is up: one message whatever the key, so the outage is logged once. */
export function notConnected(name: string): PublishTarget {
  const fail = () => Promise.reject(new NotConnectedError(`not connected to ${name} (reconnecting)`));
  return { name, write: fail, rm: fail };
}

/** The daemon's connection is gone: the batch stops and the caller reconnects and republishes. */
export class PublishAbortedError extends Error {
  override name = "PublishAbortedError";
}

const QUOTA_CODES = new Set(["EQUOTA", "ENOSPC", "E2BIG", "ENOMEM"]);
/** Passes of one publish: a pass whose removals made room retries what the quota refused. */
const MAX_PASSES = 3;

export interface PublishResult {
  writes: number;
  removals: number;
  /** Changes that were refused (quota, permission) and left out. */
  refused: number;
  /** Changes the daemon answered EAGAIN to: not applied, to be tried again soon. */
  deferred: number;
}

type Outcome = "done" | "refused" | "deferred";

export interface PublisherOptions {
  log: Logger;
  /** The write phase of a path (the schema's order); changes of one phase go out together. */
  phase: PhaseOf;
  /** Rewritten after every batch that changed something other than its quiet keys. */
  heartbeat?: Heartbeat;
}

/**
 * std: `data/updated`, as xe-guest-utilities writes it; rfc has none. rrdd watches meminfo_free
 * itself, and rewriting data/updated every minute made older xenopsd rescan every VM every minute.
 */
export interface Heartbeat {
  key: string;
  /** Keys whose changes alone do not move the heartbeat. */
  quietKeys: readonly string[];
  /** The heartbeat's value (std: the local time as C asctime() prints it). */
  clock: () => string;
}

export class Publisher {
  private mirror = new Map<string, string>();
  /** Values a quota or another error refused: not sent again until something is freed or a reset. */
  private readonly refused = new Map<string, string>();
  /** Paths the guest may not write (EACCES: `control/` under plain xl): warned once, skipped. */
  private readonly denied = new Set<string>();
  /** Paths ever denied on this publisher: a denial after a reset is logged at debug only. */
  private readonly deniedBefore = new Set<string>();
  private readonly log: Logger;

  constructor(
    private target: PublishTarget,
    private readonly opts: PublisherOptions,
  ) {
    this.log = opts.log;
  }

  /** Writes go to `target` from now on (a new link; `notConnected` while there is none). */
  retarget(target: PublishTarget): void {
    this.target = target;
  }

  get targetName(): string {
    return this.target.name;
  }

  /**
   * Forget what was written; `found` is what the tree holds now (read back by the lifecycle after
   * a restart, migration or reconnect), so the next publish writes only the difference and
   * removes what is no longer wanted. Without it everything is written again.
   */
  reset(found: Tree = new Map()): void {
    this.mirror = new Map(found);
    this.refused.clear();
    this.denied.clear();
  }

  /** Someone else changed or removed `path` (and what is below it): those keys are sent again. */
  forget(path: string): boolean {
    let any = false;
    for (const k of [...this.mirror.keys()]) {
      if (k === path || k.startsWith(`${path}/`)) any = this.mirror.delete(k) || any;
    }
    return any;
  }

  /** What the publisher believes xenstore holds (for tests and `--publisher console`). */
  written(): ReadonlyMap<string, string> {
    return this.mirror;
  }

  async publish(desired: Tree): Promise<PublishResult> {
    const beat = this.opts.heartbeat;
    const target = new Map(desired);
    const lastBeat = beat ? this.mirror.get(beat.key) : undefined;
    if (beat && lastBeat !== undefined) target.set(beat.key, lastBeat);

    const result: PublishResult = { writes: 0, removals: 0, refused: 0, deferred: 0 };
    let refusals: string[] = [];
    let moved = false;
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      // At a known quota limit removals go first within a phase: they make the room.
      const changes = planChanges(target, this.mirror, { phase: this.opts.phase, removalsFirst: this.refused.size > 0 })
        .filter((c) => this.shouldSend(c));
      if (changes.length === 0) break;
      moved ||= beat !== undefined && changes.some((c) => !beat.quietKeys.includes(c.path));
      refusals = [];
      const done = await this.sendAll(changes, refusals);
      addTo(result, done);
      // Room was made: what the quota refused may fit now, so it is tried again at once.
      if (done.removals === 0 || this.refused.size === 0 || pass === MAX_PASSES) break;
      this.refused.clear();
      result.refused -= done.refused;
    }
    if (moved && beat) addTo(result, await this.sendAll([{ op: "write", path: beat.key, value: beat.clock() }], refusals));
    if (refusals.length > 0) {
      // One line per batch: a full quota refuses every key after the limit, possibly thousands.
      const shown = refusals.slice(0, 5).join(", ");
      this.log.warn(`${refusals.length} change(s) not written: ${shown}${refusals.length > 5 ? ", …" : ""}`);
    }
    if (result.deferred > 0) this.log.debug(`${result.deferred} change(s) deferred: xenstore answered EAGAIN`);
    return result;
  }

  private async sendAll(changes: Change[], refusals: string[]): Promise<PublishResult> {
    const result: PublishResult = { writes: 0, removals: 0, refused: 0, deferred: 0 };
    // Phases run one after the other; inside a phase requests are pipelined (the daemon answers
    // one connection in order, so the order on the wire is the order applied).
    for (const group of groupByPhase(changes, this.opts.phase)) {
      const outcomes = await Promise.all(group.map((c) => this.send(c, refusals)));
      outcomes.forEach((outcome, i) => {
        const c = group[i] as Change;
        if (outcome !== "done") {
          result[outcome]++;
          return;
        }
        applyToMirror(this.mirror, c);
        if (c.op === "write") result.writes++;
        else result.removals++;
      });
    }
    return result;
  }

  private shouldSend(c: Change): boolean {
    if (c.op === "rm") return true;
    if (this.denied.has(c.path)) return false;
    return this.refused.get(c.path) !== c.value;
  }

  /** Sends one change and says what became of it (see the table at the top). */
  private async send(c: Change, refusals: string[]): Promise<Outcome> {
    try {
      if (c.op === "write") await this.target.write(c.path, c.value);
      else await this.target.rm(c.path);
      return "done";
    } catch (e) {
      if (!(e instanceof XenstoreError)) throw new PublishAbortedError(`${this.target.name}: ${(e as Error).message}`, { cause: e });
      const code = e.code;
      if (c.op === "rm" && code === "ENOENT") return "done"; // already gone (C xenstored, parent missing)
      if (code === "EAGAIN") return "deferred";
      if (c.op === "write" && code === "EACCES") {
        this.denied.add(c.path);
        // Tried again after every migration (the next host may allow it); said once.
        const say = this.deniedBefore.has(c.path) ? this.log.debug : this.log.warn;
        this.deniedBefore.add(c.path);
        say.call(this.log, `not allowed to write ${c.path} (EACCES); leaving it out` +
          (c.path.startsWith("control/") ? " — control/ is read-only for guests on plain xl hosts" : ""));
      } else {
        if (c.op === "write") this.refused.set(c.path, c.value);
        refusals.push(`${c.op === "rm" ? "rm " : ""}${c.path} (${code}${QUOTA_CODES.has(code) ? ": xenstore quota reached, publishing what fits" : ""})`);
      }
      return "refused";
    }
  }
}

function addTo(sum: PublishResult, part: PublishResult): void {
  sum.writes += part.writes;
  sum.removals += part.removals;
  sum.refused += part.refused;
  sum.deferred += part.deferred;
}

function groupByPhase(changes: Change[], phase: PhaseOf): Change[][] {
  const groups: Change[][] = [];
  let last = -1;
  for (const c of changes) {
    const p = phase(c.path);
    if (p !== last) groups.push([]);
    last = p;
    (groups[groups.length - 1] as Change[]).push(c);
  }
  return groups;
}
