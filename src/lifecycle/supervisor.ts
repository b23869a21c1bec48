// The agent's lifecycle around the pipeline: it composes the link to xenstore (link-keeper.ts),
// the watches each link needs (link-watches.ts), triggers → republish (republisher.ts), what
// systemd hears (service-status.ts), and the collectors feeding the pipeline
// (src/pipeline/fact-sources.ts); it owns the configuration and its reload.
//
//   LinkKeeper ── attached ──► LinkSession target ◄── Pipeline ◄── FactSources (collectors)
//       ▲            │ watches: triggers, SR-IOV, ForeignChangeWatch
//       └── lost ◄───┘ (publish aborted, read failed, link died)
//
// Every full republish (start, migration, resume, reconnect, reload) starts from what the tree
// holds now (src/publish/read-back.ts): only differences are written, stale keys removed.
// Nothing here polls: timers exist only while reconnecting, while triggers settle, for the settle
// after a full publish, and for the systemd watchdog when systemd asked for one.
//
// Longer than 300 lines: this is the composition root, and a third of it is its documented
// options and events (the lifecycle's interface to src/cli/run.ts and the tests).
import type { AgentConfig } from "../config/options.ts";
import type { LoadedConfig } from "../config/file.ts";
import { FatalError } from "../errors.ts";
import type { BackoffPolicy } from "../events/backoff.ts";
import { deepEqual } from "../events/equal.ts";
import { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";
import type { ReloadableLogger } from "../log/reloadable.ts";
import type { RequestsHook } from "../requests/hook.ts";
import { FactSources, type FactSourcesOptions } from "../pipeline/fact-sources.ts";
import type { ReadBack } from "../pipeline/pipeline.ts";
import { notConnected, type PublishResult, type PublishTarget } from "../publish/publisher.ts";
import { readBack } from "../publish/read-back.ts";
import { SCHEMAS } from "../schema/index.ts";
import { AGENT_FACTS } from "../facts/version.ts";
import { XenstoreError } from "../xenstore/errors.ts";
import type { Notifier } from "../../native/index.ts";
import { asctimeLocal } from "../../native/index.ts";
import { raiseFreezeTimeout } from "./freeze-timeout.ts";
import { LinkKeeper, type AttachReason } from "./link-keeper.ts";
import { LinkSession } from "./link-session.ts";
import type { Connector, Link } from "./links.ts";
import { Republisher } from "./republisher.ts";
import { ServiceStatus } from "./service-status.ts";
import type { TriggerReason } from "./triggers.ts";

export interface ClockJumpSource {
  (onJump: () => void, onError: (message: string) => void): { close(): void };
}

/**
 * A publish this large (an address storm's batch, a quota-sized burst) ran code and touched
 * executable pages that a quiet agent does not need, like a full publish: settle after it too.
 * Small publishes (a single address, a memory tick) never do, so steady churn does not page out
 * what it keeps using.
 */
export const LARGE_PUBLISH = 100;

export interface SupervisorOptions {
  loaded: LoadedConfig;
  /** Reads the configuration again for SIGHUP. Throws UsageError naming the key and line. */
  reload(): LoadedConfig;
  log: ReloadableLogger;
  /** Builds the logger for a configuration (SIGHUP may change the level or the sink). */
  makeLogger?(config: AgentConfig): Logger;
  connect: Connector;
  notifier?: Notifier;
  /** WATCHDOG_USEC when systemd asked for keep-alives. */
  watchdogUsec?: number;
  /** Wall-clock jump detection (native/timerfd.ts); none in tests that don't want a watcher thread. */
  clockJumps?: ClockJumpSource;
  /**
   * Runs a while after heavy work (a full publish, or a publish of at least LARGE_PUBLISH changes:
   * a netlink storm's batches), once it is over (src/cli/run.ts).
   */
  afterHeavyWork?: () => void;
  /** Default SETTLE_AFTER_HEAVY_WORK_MS. */
  settleAfterHeavyWorkMs?: number;
  /** Changes in one publish that make it heavy work (default LARGE_PUBLISH). */
  largePublish?: number;
  /** Host requests (src/requests/hook.ts): served on each xenstore link; none when absent (tests). */
  requests?: RequestsHook;
  /** How long triggers may keep arriving before the one republish (default 100 ms). */
  settleMs?: number;
  /** Reconnect backoff (default RECONNECT_BACKOFF: 100 ms … 5 s). */
  backoff?: BackoffPolicy;
  /** Longest wait for the batch in flight when stopping (default 1500 ms: exit within 2 s). */
  stopTimeoutMs?: number;
  /** The heartbeat's value (default: local time as C asctime() prints it). */
  clock?: () => string;
  /** Tests: passed to every FactSources (network namespace, receive buffer). */
  sources?: Pick<FactSourcesOptions, "network" | "startNetwork">;
}

export type SupervisorState = "idle" | "starting" | "connected" | "reconnecting" | "stopping" | "stopped";

export interface SupervisorEvents {
  /** After each republish requested by a trigger, with the reasons, once its publish finished. */
  republished?(reasons: TriggerReason[]): void;
  reconnected?(attempts: number): void;
  /** The link was lost (it died, or a request on it went unanswered); reconnecting follows. */
  disconnected?(err: Error): void;
  /** A reconnect attempt failed; the next one comes after `nextDelayMs`. */
  reconnectFailed?(attempt: number, nextDelayMs: number): void;
  /** The resume watches are registered on the current link (their first events are behind). */
  watching?(): void;
  /** The watches on the agent's own keys are registered on the current link. */
  watchingKeys?(): void;
  reloaded?(ok: boolean): void;
  published?(result: PublishResult): void;
  /** A clock step alone was checked against the tree: `replaced` says whether it was gone. */
  clockStepChecked?(replaced: boolean): void;
}

/** Everything any schema may have written: a republish reads it all back, so a switch removes the other's keys. */
const ALL_OWNED = [...new Set(Object.values(SCHEMAS).flatMap((s) => s.owned))];
/** Watched for changes by others: every schema's roots (events elsewhere cost nothing). */
const ALL_WATCHED = [...new Set(Object.values(SCHEMAS).flatMap((s) => s.watched))];
const ALL_UNWATCHED = [...new Set(Object.values(SCHEMAS).flatMap((s) => s.unwatched))];

export class Supervisor {
  readonly events: SupervisorEvents = {};
  private loaded: LoadedConfig;
  private readonly log: ReloadableLogger;
  private readonly keeper: LinkKeeper;
  private readonly republisher: Republisher;
  private readonly service: ServiceStatus;
  private sources: FactSources | undefined;
  /** What is set up on the current link (watches, SR-IOV listing, counted target). */
  private session: LinkSession | undefined;
  private clock: { close(): void } | undefined;
  private freezeTimeoutRaised = false;
  private reloading: Promise<boolean> = Promise.resolve(true);
  private phase: "idle" | "starting" | "running" | "stopping" | "stopped" = "idle";
  private republishCount = 0;

  constructor(private readonly opts: SupervisorOptions) {
    this.loaded = opts.loaded;
    this.log = opts.log;
    this.service = new ServiceStatus({
      notifier: opts.notifier,
      watchdogUsec: opts.watchdogUsec,
      log: this.log,
      afterHeavyWork: opts.afterHeavyWork,
      settleMs: opts.settleAfterHeavyWorkMs,
    });
    this.keeper = new LinkKeeper({
      connect: opts.connect,
      log: this.log,
      backoff: opts.backoff,
      attached: (link, reason) => this.attached(link, reason),
      detached: (_link, err) => {
        this.detached();
        this.events.disconnected?.(err);
      },
      reconnectFailed: (attempt, next) => this.events.reconnectFailed?.(attempt, next),
      status: (text) => this.service.status(text),
    });
    this.republisher = new Republisher({
      settleMs: opts.settleMs ?? 100,
      log: this.log,
      current: () => ({ pipeline: this.sources?.pipeline, link: this.keeper.link }),
      republishAll: (reasons) => this.republishAll(reasons),
      lost: (link, err) => this.keeper.lost(link, err),
      clockStepChecked: (replaced) => this.events.clockStepChecked?.(replaced),
    });
  }

  get state(): SupervisorState {
    if (this.phase === "running") return this.keeper.link ? "connected" : "reconnecting";
    return this.phase;
  }

  get config(): AgentConfig {
    return this.loaded.config;
  }

  /** The running collectors and pipeline (tests read its pipeline). */
  get current(): FactSources | undefined {
    return this.sources;
  }

  /** How many trigger republishes ran (tests). */
  get republishes(): number {
    return this.republishCount;
  }

  /**
   * Connects, starts the collectors and resolves after the first full publish attempt. Throws
   * FatalError when there is no xenstore at all (not a Xen guest: exit 1); a connection that fails
   * is retried with backoff like a lost one.
   */
  start(): Promise<void> {
    const started = this.doStart();
    // A SIGHUP during start-up waits for it.
    this.reloading = started.then(() => true, () => false);
    return started;
  }

  /** A trigger: the domain's tree may have been replaced. Coalesced into one republish. */
  trigger(reason: TriggerReason): void {
    if (!this.stopping) this.republisher.trigger(reason);
  }

  /**
   * SIGHUP: read the configuration again and rebuild the pipeline with it (everything is
   * republished). A bad file is logged and the running configuration stays. Reloads queue.
   */
  reload(): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.doReload());
    return this.reloading;
  }

  /** SIGTERM/SIGINT: finish the batch in flight (bounded), then close everything. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.phase = "stopping";
    this.service.stopping();
    this.republisher.cancel();
    this.clock?.close();
    await this.stopSources({ keep: true });
    // host requests: the feature keys go while the link is still open (dom0 sees the agent leave).
    await withTimeout(this.opts.requests?.withdraw(), this.opts.stopTimeoutMs ?? 1500);
    void this.session?.close();
    this.keeper.close();
    this.sources?.pipeline.retarget(notConnected(this.config.publisher));
    this.service.close();
    this.phase = "stopped";
  }

  // --- internals ---

  private get stopping(): boolean {
    return this.phase === "stopping" || this.phase === "stopped";
  }

  private async doStart(): Promise<void> {
    this.phase = "starting";
    const config = this.config;
    this.service.status(`Connecting to ${config.publisher}`);
    await this.keeper.open(config); // FatalError: not a Xen guest
    if (this.stopping) return;
    this.phase = "running";
    if (this.opts.clockJumps) {
      try {
        this.clock = this.opts.clockJumps(
          () => {
            this.log.debug("the wall clock stepped: checking that the published tree is still there");
            this.trigger("clock-jump");
          },
          (message) => this.log.warn(`clock-jump detection: ${message}`),
        );
      } catch (e) {
        this.log.warn(`clock jumps will not trigger a republish: ${(e as Error).message}`);
      }
    }
    await this.startSources();
  }

  private attached(link: Link, reason: AttachReason): void {
    const session = new LinkSession(link, {
      log: this.log,
      watchedRoots: ALL_WATCHED,
      unwatchedKeys: ALL_UNWATCHED,
      written: () => this.sources?.pipeline.written() ?? new Map(),
      changedByOthers: (path) => this.sources?.pipeline.forget(path),
      republishPending: () => this.republisher.pending || (this.sources?.pipeline.republishPending ?? false),
      republishEpoch: () => this.sources?.pipeline.republishEpoch ?? 0,
      trigger: (r) => this.onWatchTrigger(session, r),
      watching: () => this.events.watching?.(),
      watchingKeys: () => this.events.watchingKeys?.(),
      sriovChanged: () => {
        if (this.session === session) this.sources?.reclassifyInterfaces();
      },
    });
    this.session = session;
    this.sources?.pipeline.retarget(session.target);
    if (link.client) {
      this.opts.requests?.attach(link.client, link.base ?? "", this.loaded); // host requests
      this.raiseFreezeTimeoutOnce();
    }
    if (reason === "reconnect") {
      this.events.reconnected?.(1);
      this.trigger("reconnect");
    }
  }

  private detached(): void {
    this.opts.requests?.lost(); // host requests: the channel's watches died with the link
    void this.session?.close();
    this.session = undefined;
    this.sources?.pipeline.retarget(this.target);
  }

  /** Where the pipeline writes now: the current link's target, or one that fails until there is one. */
  private get target(): PublishTarget {
    return this.session?.target ?? notConnected(this.config.publisher);
  }

  /** Nothing on the host changes before the agent has decided it runs: xenstore is open (issue 19 #9). */
  private raiseFreezeTimeoutOnce(): void {
    const config = this.config;
    if (this.freezeTimeoutRaised || !config.raiseFreezeTimeout) return;
    this.freezeTimeoutRaised = true;
    raiseFreezeTimeout(new HostRoot(config.root), this.log);
  }

  private onWatchTrigger(session: LinkSession, reason: TriggerReason): void {
    if (session !== this.session) return;
    if (reason === "resume-watch") this.log.info("xenstore watches fired again (the domain was resumed or migrated): republishing everything");
    this.trigger(reason);
  }

  /** What the current link's tree holds under every schema's keys; none off xenstore. */
  private readBack(): ReadBack | undefined {
    const link = this.keeper.link;
    const client = link?.client;
    if (!client) return undefined;
    return () => readBack(client, ALL_OWNED, link.base ?? "");
  }

  private async startSources(): Promise<void> {
    const config = this.config;
    const sriov = { vfIdForMac: (mac: string) => this.session?.vfIdForMac(mac) };
    const sources = new FactSources({
      ...this.opts.sources,
      config,
      log: this.log,
      root: new HostRoot(config.root),
      target: this.target,
      clock: this.opts.clock ?? (() => asctimeLocal(new Date())),
      sriov,
    });
    sources.pipeline.onPublished = (result) => this.published(sources, result);
    sources.pipeline.onPublishFailed = (err) => this.publishFailed(err);
    this.sources = sources;
    const started = performance.now();
    await sources.start(this.readBack());
    if (this.sources !== sources) return;
    const ms = Math.round(performance.now() - started);
    this.log.info(`xen-guest-agent ${AGENT_FACTS.version} publishing to ${sources.pipeline.targetName} (${config.schema} schema), first publish after ${ms} ms`);
  }

  /** Stops the collectors, waiting (bounded) for the publish in flight; `keep`: still readable (tests). */
  private async stopSources(opts: { keep?: boolean } = {}): Promise<void> {
    const sources = this.sources;
    if (!opts.keep) this.sources = undefined;
    if (!sources) return;
    const timeout = this.opts.stopTimeoutMs ?? 1500;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = await Promise.race([
      sources.stop().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeout))),
    ]);
    clearTimeout(timer);
    if (!finished) this.log.warn(`the publish in flight did not finish within ${timeout} ms; stopping anyway`);
    sources.pipeline.onPublished = undefined;
    sources.pipeline.onPublishFailed = undefined;
  }

  private published(sources: FactSources, result: PublishResult): void {
    if (this.sources !== sources) return;
    this.service.published(sources.pipeline.written().size, sources.pipeline.targetName);
    if (result.writes + result.removals >= (this.opts.largePublish ?? LARGE_PUBLISH)) this.service.heavyWorkDone();
    this.events.published?.(result);
  }

  /** A xenstore answer was handled key by key by the publisher; anything else is the link. */
  private publishFailed(err: unknown): void {
    if (err instanceof XenstoreError) return;
    const link = this.keeper.link;
    if (link) this.keeper.lost(link, err instanceof Error ? err : new Error(String(err)));
  }

  private republishAll(reasons: TriggerReason[]): void {
    const sources = this.sources;
    if (!sources || this.stopping) return;
    this.republishCount++;
    this.log.info(`republishing everything (${reasons.join(", ")})`);
    sources.pipeline.republish(this.readBack());
    sources.resync();
    void sources.pipeline.idle().then(() => {
      this.opts.requests?.republished(); // host requests: advertise again, handle what came meanwhile
      this.service.heavyWorkDone();
      this.events.republished?.(reasons);
    });
  }

  private async doReload(): Promise<boolean> {
    if (this.stopping) return false;
    let next: LoadedConfig;
    try {
      next = this.opts.reload();
    } catch (e) {
      this.log.error(`SIGHUP: configuration not reloaded, keeping the running one: ${(e as Error).message}`);
      this.service.status(`Configuration error, running with the previous configuration: ${(e as Error).message}`);
      this.events.reloaded?.(false);
      return false;
    }
    this.service.reloading();
    const before = this.config;
    this.loaded = next;
    this.opts.requests?.reloaded(next); // host requests: the new [requests] policy
    const after = next.config;
    if (this.opts.makeLogger && (before.loglevel !== after.loglevel || before.stderr !== after.stderr)) {
      this.log.replace(this.opts.makeLogger(after));
    }
    const changed = (Object.keys(after) as (keyof AgentConfig)[]).filter((k) => !deepEqual(before[k], after[k]));
    this.log.info(`SIGHUP: configuration reloaded from ${next.file.found ? next.file.path : "defaults"}` +
      `${changed.length ? ` (changed: ${changed.join(", ")})` : " (unchanged)"}; republishing everything`);
    await this.stopSources();
    if (before.root !== after.root || before.raiseFreezeTimeout !== after.raiseFreezeTimeout) this.freezeTimeoutRaised = false;
    const relink = before.publisher !== after.publisher || before.root !== after.root || before.xenstoreTimeout !== after.xenstoreTimeout;
    if (relink) {
      // Keys on the old target cannot be cleaned through the new one.
      this.detached();
      try {
        await this.keeper.reopen(after);
      } catch (e) {
        if (!(e instanceof FatalError)) throw e;
      }
    } else if (this.keeper.link?.client) {
      this.raiseFreezeTimeoutOnce();
    }
    if (this.stopping) return false;
    // The new pipeline starts from what the tree holds: what it no longer publishes is removed.
    await this.startSources();
    this.service.published(this.sources?.pipeline.written().size ?? 0, this.target.name);
    this.service.heavyWorkDone();
    this.events.reloaded?.(true);
    return true;
  }
}

/** Waits for `p` at most `ms` (a stop must not hang on a dead link). */
async function withTimeout(p: Promise<void> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
