// The publisher: keeps a mirror of what it wrote, sends only differences, in dom0's order.
import type { Logger } from "../log/logger.ts";
import type { Tree } from "../schema/tree.ts";
import { applyToMirror, phase, planChanges, type Change } from "./plan.ts";
import { asctimeLocal } from "../../native/system.ts";

/** Where changes go: xenstore, or stdout for the console publisher. */
export interface PublishTarget {
  readonly name: string;
  write(path: string, value: string): Promise<void>;
  rm(path: string): Promise<void>;
}

/** Errors from a target carry the xenstore error name (`EACCES`…) in `code`. */
type CodedError = Error & { code?: string };

/** The daemon's connection is gone: the batch stops and the caller reconnects and republishes. */
export class PublishAbortedError extends Error {
  override name = "PublishAbortedError";
}

const QUOTA_CODES = new Set(["EQUOTA", "ENOSPC", "E2BIG", "ENOMEM"]);
const EAGAIN_ATTEMPTS = 5;

export interface PublishResult {
  writes: number;
  removals: number;
  /** Changes that were refused (quota, permission) and left out. */
  refused: number;
  /** Changes the daemon kept answering EAGAIN to: not applied, to be tried again soon. */
  deferred: number;
}

type Outcome = "done" | "refused" | "deferred";

export interface PublisherOptions {
  log: Logger;
  /**
   * Key rewritten after every batch that changed something other than `data/meminfo_free`
   * (std: `data/updated`; rfc: none). rrdd watches meminfo_free itself, and rewriting
   * data/updated every minute made older xenopsd rescan every VM every minute.
   */
  heartbeatKey?: string;
  /** Keys whose changes alone do not move the heartbeat. */
  quietKeys?: readonly string[];
  /** The heartbeat's value (default: the local time as C asctime() prints it). */
  clock?: () => string;
}

export class Publisher {
  private readonly mirror = new Map<string, string>();
  /** Values a quota or another error refused: not retried until something is freed or a reset. */
  private readonly refused = new Map<string, string>();
  /** Paths the guest may not write (EACCES: `control/` under plain xl): warned once, skipped. */
  private readonly denied = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly target: PublishTarget,
    private readonly opts: PublisherOptions,
  ) {
    this.log = opts.log;
  }

  /** Forget what was written: the next publish writes everything (after migration, reconnect). */
  reset(): void {
    this.mirror.clear();
    this.refused.clear();
    this.denied.clear();
  }

  /** What the publisher believes xenstore holds (for tests and `--publisher console`). */
  written(): ReadonlyMap<string, string> {
    return this.mirror;
  }

  async publish(desired: Tree): Promise<PublishResult> {
    const { heartbeatKey } = this.opts;
    const target = new Map(desired);
    const lastBeat = heartbeatKey ? this.mirror.get(heartbeatKey) : undefined;
    if (heartbeatKey && lastBeat !== undefined) target.set(heartbeatKey, lastBeat);

    let changes = planChanges(target, this.mirror).filter((c) => this.shouldSend(c));
    const quiet = new Set(this.opts.quietKeys ?? []);
    if (heartbeatKey && changes.some((c) => !quiet.has(c.path))) {
      changes = [...changes, { op: "write", path: heartbeatKey, value: (this.opts.clock ?? (() => asctimeLocal(new Date())))() }];
    }
    const result: PublishResult = { writes: 0, removals: 0, refused: 0, deferred: 0 };
    const refusals: string[] = [];
    // Phases run one after the other; inside a phase requests are pipelined (the daemon answers
    // one connection in order, so the order on the wire is the order applied).
    for (const group of groupByPhase(changes)) {
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
    if (result.removals > 0) this.refused.clear(); // something was freed: refused writes may fit now
    if (refusals.length > 0) {
      // One line per batch: a full quota refuses every key after the limit, possibly thousands.
      const shown = refusals.slice(0, 5).join(", ");
      this.log.warn(`${refusals.length} change(s) not written: ${shown}${refusals.length > 5 ? ", …" : ""}`);
    }
    if (result.deferred > 0) this.log.warn(`${result.deferred} change(s) deferred: xenstore kept answering EAGAIN`);
    return result;
  }

  private shouldSend(c: Change): boolean {
    if (c.op === "rm") return true;
    if (this.denied.has(c.path)) return false;
    return this.refused.get(c.path) !== c.value;
  }

  /**
   * Sends one change. Refused changes are remembered and not retried until something is freed or
   * a reset; EAGAIN is temporary (the daemon is busy) and is deferred to a later publish. Throws
   * PublishAbortedError when the connection is gone.
   */
  private async send(c: Change, refusals: string[]): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (c.op === "write") await this.target.write(c.path, c.value);
        else await this.target.rm(c.path);
        return "done";
      } catch (e) {
        const err = e as CodedError;
        const code = err.code ?? "";
        if (c.op === "rm" && code === "ENOENT") return "done"; // already gone (C xenstored, parent missing)
        if (code === "EAGAIN") {
          if (attempt >= EAGAIN_ATTEMPTS) return "deferred";
          await Bun.sleep(10 * 2 ** attempt);
          continue;
        }
        if (code === "") throw new PublishAbortedError(`${this.target.name}: ${err.message}`);
        if (c.op === "write" && code === "EACCES") {
          this.denied.add(c.path);
          this.log.warn(`not allowed to write ${c.path} (EACCES); leaving it out` +
            (c.path.startsWith("control/") ? " — control/ is read-only for guests on plain xl hosts" : ""));
        } else {
          if (c.op === "write") this.refused.set(c.path, c.value);
          refusals.push(`${c.op === "rm" ? "rm " : ""}${c.path} (${code}${QUOTA_CODES.has(code) ? ": xenstore quota reached, publishing what fits" : ""})`);
        }
        return "refused";
      }
    }
  }
}

function groupByPhase(changes: Change[]): Change[][] {
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
