// The fsfreeze driver: carries out what machine.ts decides. Events are handled one at a time; the
// freeze and thaw themselves are synchronous ioctls, so nothing else runs while filesystems are
// half frozen. While frozen:
// - log lines are held in memory (LogHold) and written after the thaw;
// - replies go back to the request channel, state changes of its own (freezing, an automatic
//   thaw) to xenstore, never awaited here: a hung xenstore must not delay a thaw;
// - the automatic thaw is a timer armed as the last filesystem is frozen;
// - the marker (marker.ts, on a tmpfs) lists what the agent froze, for a start after a crash.
import type { MountEntry } from "../../collectors/volumes/mountinfo.ts";
import type { VolumeFacts } from "../../facts/facts.ts";
import type { Logger } from "../../log/logger.ts";
import type { FreezeOutcome as IoctlOutcome } from "../../../native/index.ts";
import type { HookRunner } from "./hooks.ts";
import { afterFreeze, afterThaw, decide, refusal, stateName, type FreezeOutcome, type FrozenMount, type Limits, type MachineEvent, type MachineState } from "./machine.ts";
import type { MarkerStore } from "./marker.ts";
import type { FreezeStateName, FsfreezeReply, FsfreezeRequest, ThawCause } from "./protocol.ts";
import { selectTargets } from "./targets.ts";

/** FIFREEZE / FITHAW on a path (native/fsfreeze.ts); tests pass recording fakes. */
export interface Filesystems {
  freeze(path: string): IoctlOutcome;
  thaw(path: string): IoctlOutcome;
}

export interface FsfreezeServiceOptions {
  limits: Limits;
  fs: Filesystems;
  hooks: HookRunner;
  marker: MarkerStore;
  logHold: { hold(): void; release(): void };
  log: Logger;
  /** The mount table now (mountinfo under --root). */
  mountTable(): MountEntry[];
  /** The volumes the volumes collector reports now. */
  volumes(): VolumeFacts;
  /** The real path of a mount point from the mount table (--root prefixes it). */
  realPath(mountPoint: string): string;
  /** Monotonic milliseconds. */
  now(): number;
  /** Writes the state when it changed outside a request (freezing, an automatic thaw). */
  publish(state: FreezeStateName): Promise<void>;
}

const errorCode = (e: unknown): string | undefined => (e as { code?: string }).code;

export class FsfreezeService {
  private state: MachineState = {};
  private queue: Promise<void> = Promise.resolve();
  private published: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopping = false;

  constructor(private readonly opts: FsfreezeServiceOptions) {}

  get current(): Readonly<MachineState> {
    return this.state;
  }

  /**
   * Handles a request or event after those before it; resolves with the reply to write for a
   * request (undefined for events, and once stopping). Never rejects.
   */
  handle(event: MachineEvent): Promise<FsfreezeReply | undefined> {
    if (this.stopping) return this.queue.then(() => undefined);
    const result = this.queue.then(() => this.step(event));
    this.queue = result.then(() => {}, (e: Error) => this.opts.log.error(`fsfreeze: ${e.message}`));
    return result.catch(() => undefined);
  }

  /** State changes written so far have been sent (tests, clean stop). */
  flushed(): Promise<void> {
    return this.published;
  }

  /**
   * SIGTERM, SIGINT, a clean stop: thaws what is frozen (after the event in flight, a freeze hook
   * included), then takes no more requests.
   */
  async stop(cause: ThawCause): Promise<void> {
    if (!this.stopping) {
      this.queue = this.queue.then(() => this.step({ type: "shutdown", cause })).then(() => {});
      this.stopping = true;
    }
    await this.queue.catch(() => {});
    clearTimeout(this.timer);
  }

  private async step(event: MachineEvent): Promise<FsfreezeReply | undefined> {
    const action = decide(this.state, event, this.opts.limits);
    switch (action.do) {
      case "nothing":
        return undefined;
      case "reply":
        if (action.reply !== this.state.lastReply) this.state = { ...this.state, lastReply: action.reply };
        return action.reply;
      case "thaw":
        return this.thaw(action.cause, action.request);
      case "freeze": {
        this.sendState("freezing");
        const out = await this.freeze(action.request);
        const { state, reply } = afterFreeze(this.state, action.request, action.timeoutS, out);
        this.state = state;
        if (state.frozen) {
          this.timer = setTimeout(() => void this.handle({ type: "timeout" }), action.timeoutS * 1000);
          this.opts.log.info(`froze ${reply.mounts.join(", ")} for request ${reply.id} (automatic thaw in ${action.timeoutS} s)`);
        } else {
          this.sendState("thawed");
        }
        return reply;
      }
    }
  }

  /** Hooks, marker, FIFREEZE in order; any failure undoes everything done so far. */
  private async freeze(request: FsfreezeRequest): Promise<FreezeOutcome> {
    const o = this.opts;
    let table: MountEntry[];
    try {
      table = o.mountTable();
    } catch (e) {
      return { ok: false, error: `mount table unreadable: ${(e as Error).message}`, skipped: [] };
    }
    const selection = selectTargets(request.mounts, table, request.mounts ? { volumes: [] } : o.volumes());
    if (!selection.ok) return { ok: false, error: selection.error, skipped: [] };
    const skipped = [...selection.skipped];
    let markerDevice: string;
    try {
      markerDevice = o.marker.device();
    } catch (e) {
      return { ok: false, error: `marker directory unusable: ${(e as Error).message}`, skipped };
    }
    const onMarkerFs = selection.targets.find((t) => t.device === markerDevice);
    if (onMarkerFs) return { ok: false, error: `the marker would be on ${onMarkerFs.mountPoint}, which is being frozen (fsfreeze-marker must be on a tmpfs)`, skipped };

    const hooks = await o.hooks.run("freeze");
    const hookFailure = hooks.failures[0];
    if (hookFailure) {
      await this.thawHooks(hooks.succeeded);
      return { ok: false, error: `freeze hook ${hookFailure.hook}: ${hookFailure.message}`, skipped };
    }
    if (this.stopping) {
      await this.thawHooks(hooks.succeeded);
      return { ok: false, error: "the agent is stopping", skipped };
    }
    const planned = selection.targets.map((t) => ({ mountPoint: t.mountPoint, device: t.device }));
    try {
      o.marker.write(planned);
    } catch (e) {
      await this.thawHooks(hooks.succeeded);
      return { ok: false, error: `cannot write the marker: ${(e as Error).message}`, skipped };
    }
    o.logHold.hold();
    const frozen: FrozenMount[] = [];
    let failure: string | undefined;
    for (const t of selection.targets) {
      try {
        if (o.fs.freeze(o.realPath(t.mountPoint)) === "done") frozen.push({ mountPoint: t.mountPoint, device: t.device });
        else skipped.push(`${t.mountPoint}: frozen already (left to whoever froze it)`);
      } catch (e) {
        if (!request.mounts && errorCode(e) === "EOPNOTSUPP") skipped.push(`${t.mountPoint}: ${t.fsType} cannot be frozen`);
        else {
          failure = `${t.mountPoint}: ${(e as Error).message}`;
          break;
        }
      }
    }
    if (failure === undefined && frozen.length === 0 && !skipped.some((s) => s.includes("frozen already"))) failure = "nothing could be frozen";
    if (failure !== undefined) {
      const stuck = this.thawMounts(frozen);
      o.marker.remove();
      o.logHold.release();
      await this.thawHooks(hooks.succeeded);
      const also = stuck.length ? `; and would not thaw again: ${stuck.join("; ")}` : "";
      return { ok: false, error: `${failure}${frozen.length ? ` (thawed again: ${frozen.map((m) => m.mountPoint).join(", ")})` : ""}${also}`, skipped };
    }
    try {
      o.marker.write(frozen); // only what this agent froze is its to thaw after a crash
    } catch {
      // The planned list stays: a superset, thawing it is harmless.
    }
    return { ok: true, mounts: frozen, skipped, hooks: hooks.succeeded, at: o.now() };
  }

  /** FITHAW in reverse order, marker gone, logs released; then the thaw hooks (in the background). */
  private thaw(cause: ThawCause, request: FsfreezeRequest | undefined): FsfreezeReply | undefined {
    const frozen = this.state.frozen;
    if (!frozen) return undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const failures = this.thawMounts(frozen.mounts);
    const { state, reply } = afterThaw(this.state, cause, request, failures, this.opts.now());
    this.state = state;
    if (failures.length === 0) this.opts.marker.remove();
    this.opts.logHold.release();
    if (!reply) this.sendState("thawed");
    const how = cause === "request" ? `for request ${request?.id}` : `(${cause})`;
    this.opts.log.info(`thawed ${frozen.mounts.map((m) => m.mountPoint).join(", ")} ${how} after ${state.last?.frozenMs} ms frozen`);
    for (const f of failures) this.opts.log.error(`fsfreeze: would not thaw ${f}`);
    void this.thawHooks(frozen.hooks);
    return reply;
  }

  /** Thaws in reverse order; returns the mounts that would not thaw, with why. */
  private thawMounts(mounts: readonly FrozenMount[]): string[] {
    const failures: string[] = [];
    for (const m of [...mounts].reverse()) {
      try {
        this.opts.fs.thaw(this.opts.realPath(m.mountPoint));
      } catch (e) {
        failures.push(`${m.mountPoint}: ${(e as Error).message}`);
      }
    }
    return failures;
  }

  private async thawHooks(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const run = await this.opts.hooks.run("thaw", names);
    for (const f of run.failures) this.opts.log.warn(`thaw hook ${f.hook}: ${f.message}`);
  }

  private sendState(state: FreezeStateName): void {
    this.published = this.published
      .then(() => this.opts.publish(state))
      .catch((e: Error) => this.opts.log.warn(`fsfreeze: state ${state} not written: ${e.message}`));
  }

  /** The state name now, for the first publish of a new connection. */
  stateName(): FreezeStateName {
    return stateName(this.state);
  }

  /** The answer to a request the channel did not let through (malformed, denied, forged). */
  refuse(id: string, error: string): FsfreezeReply {
    return refusal(this.state, id, error);
  }
}

/**
 * At start: a marker left by a run that died while frozen lists what it froze; each is thawed
 * (EINVAL, thawed already, counts as done) when the same filesystem is still mounted there, and
 * the marker goes. Returns what was thawed and what was not, for the log (which the caller holds
 * until this returns: the journal may be on one of these filesystems).
 */
export function recoverAfterCrash(marker: MarkerStore, fs: Filesystems, table: readonly MountEntry[], realPath: (mp: string) => string): { thawed: string[]; failed: string[] } | undefined {
  const mounts = marker.read();
  if (mounts === undefined) return undefined;
  const thawed: string[] = [];
  const failed: string[] = [];
  const visible = new Map(table.map((m) => [m.mountPoint, `${m.major}:${m.minor}`]));
  for (const m of [...mounts].reverse()) {
    if (visible.get(m.mountPoint) !== m.device) {
      failed.push(`${m.mountPoint}: no longer the filesystem ${m.device}; left alone`);
      continue;
    }
    try {
      fs.thaw(realPath(m.mountPoint));
      thawed.push(m.mountPoint);
    } catch (e) {
      failed.push(`${m.mountPoint}: ${(e as Error).message}`);
    }
  }
  marker.remove();
  return { thawed, failed };
}
