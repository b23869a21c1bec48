// The agent's lifecycle around the pipeline (src/pipeline/fact-sources.ts): connecting and reconnecting to
// xenstore, noticing that the domain's tree was replaced (migration, resume), reloading the
// configuration, stopping, and telling systemd about all of it.
//
//   connect ──► Daemon (collectors + pipeline) ──► SwitchableTarget ──► current link's target
//      ▲                                                                     │ lost / publish aborted
//      └──────────── backoff 100 ms … 5 s ◄──────────────────────────────────┘
//
// Triggers (unique-domain-id, resume sentinel watch, clock jump, reconnect) go through one
// Coalescer: triggers arriving together become one full republish (mirror reset + netlink re-dump);
// a clock jump on its own first checks that the tree is really gone.
// Nothing here polls: timers exist only while reconnecting, while a trigger settles, and for the
// systemd watchdog when systemd asked for one.
import type { AgentConfig } from "../config/options.ts";
import type { LoadedConfig } from "../config/file.ts";
import { HEARTBEAT_KEY } from "../pipeline/pipeline.ts";
import { Daemon, type DaemonOptions } from "../pipeline/fact-sources.ts";
import { FatalError } from "../errors.ts";
import { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";
import type { XenstoreClient } from "../xenstore/client.ts";
import type { RequestsHook } from "../requests/hook.ts";
import type { PublishResult, PublishTarget } from "../publish/publisher.ts";
import { SriovDirectory } from "../collectors/network/sriov.ts";
import { AGENT_FACTS } from "../facts/version.ts";
import { monotonicUsec, type Notifier } from "../../native/sd-notify.ts";
import { raiseFreezeTimeout } from "./freeze-timeout.ts";
import { ReloadableLogger } from "../log/reloadable.ts";
import { SwitchableTarget } from "../publish/switchable-target.ts";
import { Coalescer, registerWatchTriggers, type TriggerReason, type WatchingClient, type WatchTriggers } from "./triggers.ts";

/** How long after a full publish the process settles (afterFullPublish). */
export const SETTLE_AFTER_FULL_PUBLISH_MS = 5000;

/** One connection to where the agent publishes. */
export interface Link {
  /** For logs: `socket:/run/xenstored/socket`, `xenbus:/dev/xen/xenbus`, `console`. */
  readonly name: string;
  readonly target: PublishTarget;
  /** xenstore links: what the resume watches need. Absent for the console publisher. */
  readonly client?: WatchingClient;
  /** Prefix for watch paths on a privileged connection (tests); empty on a guest connection. */
  readonly base?: string;
  /** xenstore links: the full client, for the request handlers (src/requests/). */
  readonly xenstore?: XenstoreClient;
  /** `cb` runs once when the link dies by itself (never after close()). */
  onLost(cb: (err: Error) => void): void;
  close(): void;
}

/** Opens a link for a configuration. Throws with a message that says why and what to do. */
export type Connector = (config: AgentConfig, log: Logger) => Promise<Link>;

export interface ClockJumpSource {
  (onJump: () => void, onError: (message: string) => void): { close(): void };
}

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
   * Runs `settleAfterFullPublishMs` after the first full publish, and again after each full republish (resume,
   * migration, reconnect, reload), once the burst of work is over: the process gives back what
   * only that work needed (src/cli/run.ts: the executable's pages). None in tests.
   */
  afterFullPublish?: () => void;
  /** Default SETTLE_AFTER_FULL_PUBLISH_MS. */
  settleAfterFullPublishMs?: number;
  /** How long triggers may keep arriving before the one republish (default 100 ms). */
  settleMs?: number;
  /** Reconnect backoff: first delay and cap (default 100 ms, 5 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Longest wait for the batch in flight when stopping (default 1500 ms: exit within 2 s). */
  stopTimeoutMs?: number;
  /** Host requests (src/requests/hook.ts): served on each xenstore link; none when absent (tests). */
  requests?: RequestsHook;
  /** Tests: passed to every Daemon (network namespace, receive buffer). */
  daemon?: Pick<DaemonOptions, "network" | "startNetwork">;
}

export type SupervisorState = "idle" | "starting" | "connected" | "reconnecting" | "stopping" | "stopped";

export interface SupervisorEvents {
  /** After each republish requested by a trigger, with the reasons, once its publish finished. */
  republished?(reasons: TriggerReason[]): void;
  reconnected?(attempts: number): void;
  /** A reconnect attempt failed; the next one comes after `nextDelayMs`. */
  reconnectFailed?(attempt: number, nextDelayMs: number): void;
  /** The resume watches are registered on the current link (their first events are behind). */
  watching?(): void;
  reloaded?(ok: boolean): void;
  published?(result: PublishResult): void;
  /** A clock step alone was checked against the tree: `replaced` says whether it was gone. */
  clockStepChecked?(replaced: boolean): void;
}

export class Supervisor {
  readonly target: SwitchableTarget;
  readonly events: SupervisorEvents = {};
  private loaded: LoadedConfig;
  private readonly log: ReloadableLogger;
  private link: Link | undefined;
  private daemon: Daemon | undefined;
  private watchTriggers: WatchTriggers | undefined;
  /** SR-IOV VFs listed by the toolstack on the current link (XAPI hosts). */
  private sriov: SriovDirectory | undefined;
  private clock: { close(): void } | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectAttempts = 0;
  private lostAt = 0;
  private readonly coalescer: Coalescer<TriggerReason>;
  /** Keys written before a mirror reset: removed after the next successful full publish if not rewritten. */
  private pendingCleanup = new Set<string>();
  private readySent = false;
  private reloading: Promise<boolean> = Promise.resolve(true);
  private _state: SupervisorState = "idle";
  private republishCount = 0;

  constructor(private readonly opts: SupervisorOptions) {
    this.loaded = opts.loaded;
    this.log = opts.log;
    this.target = new SwitchableTarget({ idleName: this.loaded.config.publisher });
    this.coalescer = new Coalescer(opts.settleMs ?? 100, (reasons) => this.republish(reasons));
  }

  get state(): SupervisorState {
    return this._state;
  }

  get config(): AgentConfig {
    return this.loaded.config;
  }

  /** The running pipeline (tests read its agent). */
  get current(): Daemon | undefined {
    return this.daemon;
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

  private async doStart(): Promise<void> {
    this._state = "starting";
    const config = this.config;
    this.status(`Connecting to ${config.publisher}`);
    // Not for --publisher console: a dry run off Xen must not change the machine.
    if (config.raiseFreezeTimeout && config.publisher === "xenstore") raiseFreezeTimeout(new HostRoot(config.root), this.log);
    let link: Link | undefined;
    try {
      link = await this.opts.connect(config, this.log);
    } catch (e) {
      // Not a Xen guest: nothing to wait for. Anything else (the device or socket exists but the
      // connection failed) may pass: retry with backoff; READY=1 comes after the first publish.
      if (e instanceof FatalError) throw e;
      this.log.warn(`cannot connect yet: ${(e as Error).message}; retrying with backoff`);
      this.status(`Cannot connect yet: ${(e as Error).message}; retrying`);
    }
    if (this.stopping) {
      link?.close();
      return;
    }
    if (link) {
      this.attach(link);
      this._state = "connected";
    } else {
      this._state = "reconnecting";
      this.lostAt = performance.now();
      this.reconnectAttempts = 0;
      this.scheduleReconnect();
    }
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
    if (this.opts.watchdogUsec && this.opts.notifier?.active) {
      const everyMs = Math.max(1, Math.floor(this.opts.watchdogUsec / 2000));
      this.watchdog = setInterval(() => this.opts.notifier?.notify("WATCHDOG=1"), everyMs);
      this.log.debug(`systemd watchdog: keep-alive every ${everyMs} ms`);
    }
    await this.startDaemon();
  }

  /** A trigger: the domain's tree may have been replaced. Coalesced into one republish. */
  trigger(reason: TriggerReason): void {
    if (this.stopping) return;
    this.coalescer.fire(reason);
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
    this._state = "stopping";
    this.opts.notifier?.notify("STOPPING=1\nSTATUS=Stopping");
    this.coalescer.cancel();
    clearTimeout(this.reconnectTimer);
    clearInterval(this.watchdog);
    clearTimeout(this.settleTimer);
    this.clock?.close();
    const daemon = this.daemon;
    if (daemon) {
      const timeout = this.opts.stopTimeoutMs ?? 1500;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await Promise.race([
        daemon.stop().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeout))),
      ]);
      clearTimeout(timer);
      if (!finished) this.log.warn(`the publish in flight did not finish within ${timeout} ms; stopping anyway`);
    }
    // host requests: the feature keys go while the link is still open (dom0 sees the agent leave).
    await withTimeout(this.opts.requests?.withdraw(), this.opts.stopTimeoutMs ?? 1500);
    this.link?.close();
    this.link = undefined;
    this.target.set(undefined);
    this.opts.notifier?.close();
    this._state = "stopped";
  }

  // --- internals ---

  /** afterFullPublish, once no full publish has finished for settleAfterFullPublishMs. */
  private settleLater(): void {
    const after = this.opts.afterFullPublish;
    if (!after || this.stopping) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (!this.stopping) after();
    }, this.opts.settleAfterFullPublishMs ?? SETTLE_AFTER_FULL_PUBLISH_MS);
  }

  private get stopping(): boolean {
    return this._state === "stopping" || this._state === "stopped";
  }

  private status(text: string): void {
    this.opts.notifier?.notify(`STATUS=${text}`);
  }

  private attach(link: Link): void {
    this.link = link;
    this.target.set(link.target);
    link.onLost((err) => this.lost(link, err));
    if (link.xenstore) this.opts.requests?.attach(link.xenstore, link.base ?? "", this.loaded); // host requests
    if (link.client) this.watchSriov(new SriovDirectory(link.client, this.log.withTag("sriov")));
    if (link.client) {
      registerWatchTriggers(link.client, (reason) => this.onWatchTrigger(link, reason), this.log.withTag("lifecycle"), link.base ?? "").then(
        (w) => {
          if (this.link === link) {
            this.watchTriggers = w;
            this.events.watching?.();
          } else void w.close().catch(() => {});
        },
        (e: Error) => {
          if (this.link === link) this.log.warn(`resume watches not registered (${e.message}); relying on clock jumps and reconnects`);
        },
      );
    }
  }

  /** Reads the VF listing, and again whenever it changes; interfaces are re-examined when it did. */
  private watchSriov(dir: SriovDirectory): void {
    this.sriov = dir;
    const changed = () => {
      if (this.sriov === dir) this.daemon?.reclassifyInterfaces();
    };
    dir.refresh()
      .then((moved) => {
        if (moved) changed();
        return dir.watch(changed);
      })
      .catch((e: Error) => this.log.debug(`SR-IOV listing not watched: ${e.message}`));
  }

  private onWatchTrigger(link: Link, reason: TriggerReason): void {
    if (link !== this.link) return;
    if (reason === "resume-watch") this.log.info("xenstore watches fired again (the domain was resumed or migrated): republishing everything");
    this.trigger(reason);
  }

  private makeDaemon(removeStale: boolean): Daemon {
    const config = this.config;
    const sriov = { vfIdForMac: (mac: string) => this.sriov?.vfIdForMac(mac) };
    const daemon = new Daemon({ ...this.opts.daemon, config, log: this.log, root: new HostRoot(config.root), target: this.target, removeStale, sriov });
    daemon.agent.onPublished = (result) => this.published(result);
    daemon.agent.onPublishFailed = (err) => this.publishFailed(err);
    return daemon;
  }

  private async startDaemon(removeStale = true): Promise<void> {
    // Only a xenstore link can hold what a previous run left; the console has nothing to clean.
    const daemon = this.makeDaemon(removeStale && this.link?.client !== undefined);
    this.daemon = daemon;
    const started = performance.now();
    await daemon.start();
    if (this.daemon !== daemon) return;
    const ms = Math.round(performance.now() - started);
    this.log.info(`xen-guest-agent ${AGENT_FACTS.version} publishing to ${this.target.name} (${this.config.schema} schema), first publish after ${ms} ms`);
  }

  private published(result: PublishResult): void {
    const daemon = this.daemon;
    if (!daemon) return;
    const written = daemon.agent.written();
    if (this.pendingCleanup.size > 0) {
      // The first full publish after a reset: what was written before and is no longer wanted goes.
      const stale = prunedStale([...this.pendingCleanup].filter((k) => !written.has(k)), written);
      this.pendingCleanup.clear();
      for (const path of stale) {
        this.target.rm(path).catch((e: Error & { code?: string }) => {
          if (e.code && e.code !== "ENOENT") this.log.warn(`could not remove stale ${path}: ${e.message}`);
        });
      }
      if (stale.length) this.log.debug(`removed ${stale.length} key(s) no longer published`);
    }
    if (!this.readySent) {
      this.readySent = true;
      this.opts.notifier?.notify(`READY=1\nSTATUS=Publishing ${written.size} keys to ${this.target.name}`);
      this.settleLater();
    } else {
      this.status(`Publishing ${written.size} keys to ${this.target.name}`);
    }
    this.events.published?.(result);
  }

  private publishFailed(err: unknown): void {
    // Errors that carry a xenstore code were handled key by key; a codeless one is the link.
    if ((err as { code?: string }).code) return;
    const link = this.link;
    if (link) this.lost(link, err instanceof Error ? err : new Error(String(err)));
  }

  private lost(link: Link, err: Error): void {
    if (link !== this.link || this.stopping) return;
    this.link = undefined;
    this.watchTriggers = undefined; // gone with the connection
    this.opts.requests?.lost(); // host requests: the channel's watches died with the link
    this.target.set(undefined);
    link.close();
    this._state = "reconnecting";
    this.lostAt = performance.now();
    this.reconnectAttempts = 0;
    this.log.warn(`lost ${link.name} (${err.message}); reconnecting`);
    this.status(`Lost ${link.name}; reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): number {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 100, maxMs: 5000 };
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.reconnectAttempts, 20));
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    return delay;
  }

  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.stopping || this.link) return;
    this.reconnectAttempts++;
    let link: Link;
    try {
      link = await this.opts.connect(this.config, this.log);
    } catch (e) {
      if (this.reconnectAttempts === 1) this.log.warn(`reconnect failed: ${(e as Error).message}; retrying with backoff up to ${(this.opts.backoff?.maxMs ?? 5000) / 1000} s`);
      else this.log.debug(`reconnect attempt ${this.reconnectAttempts} failed: ${(e as Error).message}`);
      if (!this.stopping && !this.link) {
        const next = this.scheduleReconnect(); // not inside `?.(…)`: it must run with no listener too
        this.events.reconnectFailed?.(this.reconnectAttempts, next);
      }
      return;
    }
    if (this.stopping || this.link) {
      link.close();
      return;
    }
    this.attach(link);
    this._state = "connected";
    const secs = ((performance.now() - this.lostAt) / 1000).toFixed(1);
    this.log.info(`reconnected to ${link.name} after ${this.reconnectAttempts} attempt(s), ${secs} s: republishing everything`);
    this.events.reconnected?.(this.reconnectAttempts);
    this.trigger("reconnect");
  }

  private republish(reasons: TriggerReason[]): void {
    if (reasons.every((r) => r === "clock-jump")) {
      void this.republishIfTreeLost(reasons);
      return;
    }
    this.republishAll(reasons);
  }

  /**
   * A clock step on its own does not prove the tree was replaced: NTP, `date -s` and the
   * hypervisor's time sync step the clock too, and a CANCEL_ON_SET timerfd cannot tell them from
   * a resume. The published tree can: a migrated or restored domain's tree is new and empty. One
   * READ of a key we wrote decides; anything but our value back (gone, changed, an error)
   * republishes.
   */
  private async republishIfTreeLost(reasons: TriggerReason[]): Promise<void> {
    const daemon = this.daemon;
    const link = this.link;
    if (!daemon || !link?.client || this.stopping) return; // the console keeps nothing to lose
    await daemon.agent.idle(); // a publish in flight would move the value under the read
    const written = daemon.agent.written();
    const probe = written.has(HEARTBEAT_KEY) ? HEARTBEAT_KEY : written.keys().next().value;
    if (probe === undefined || this.daemon !== daemon || this.link !== link) return;
    const path = link.base ? `${link.base}/${probe}` : probe;
    let lostWith: Error | undefined;
    const actual = await link.client.read(path).then(
      (v) => v,
      (e: Error & { code?: string }) => {
        if (!e.code) lostWith = e; // no xenstore error name: the connection itself failed
        return e.code === "ENOENT" ? undefined : `(${e.message})`;
      },
    );
    if (lostWith) return this.lost(link, lostWith); // the reconnect republishes
    if (this.daemon !== daemon || this.stopping) return;
    const replaced = actual !== written.get(probe);
    if (replaced) {
      this.log.info(`the wall clock jumped and ${probe} ${actual === undefined ? "is gone" : "no longer holds what we wrote"} (resume or migration): republishing everything`);
      this.republishAll(reasons);
    } else {
      this.log.debug(`${probe} is still ours: a clock step, not a resume; nothing to republish`);
    }
    this.events.clockStepChecked?.(replaced);
  }

  private republishAll(reasons: TriggerReason[]): void {
    const daemon = this.daemon;
    if (!daemon || this.stopping) return;
    this.republishCount++;
    for (const k of daemon.agent.written().keys()) this.pendingCleanup.add(k);
    this.log.info(`republishing everything (${reasons.join(", ")})`);
    daemon.agent.republishAll();
    daemon.resync();
    void daemon.agent.idle().then(() => {
      this.opts.requests?.republished(); // host requests: advertise again, handle what came meanwhile
      this.settleLater();
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
      this.status(`Configuration error, running with the previous configuration: ${(e as Error).message}`);
      this.events.reloaded?.(false);
      return false;
    }
    this.opts.notifier?.notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
    const before = this.config;
    this.loaded = next;
    this.opts.requests?.reloaded(next); // host requests: the new [requests] policy
    const after = next.config;
    if (this.opts.makeLogger && (before.loglevel !== after.loglevel || before.stderr !== after.stderr)) {
      this.log.replace(this.opts.makeLogger(after));
    }
    const changed = (Object.keys(after) as (keyof AgentConfig)[]).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    this.log.info(`SIGHUP: configuration reloaded from ${next.file.found ? next.file.path : "defaults"}` +
      `${changed.length ? ` (changed: ${changed.join(", ")})` : " (unchanged)"}; republishing everything`);
    if (after.raiseFreezeTimeout && after.publisher === "xenstore") raiseFreezeTimeout(new HostRoot(after.root), this.log);

    const old = this.daemon;
    this.daemon = undefined;
    if (old) {
      await Promise.race([old.stop(), Bun.sleep(this.opts.stopTimeoutMs ?? 1500)]);
      old.agent.onPublished = undefined;
      old.agent.onPublishFailed = undefined;
    }
    const relink = before.publisher !== after.publisher || before.root !== after.root || before.xenstoreTimeout !== after.xenstoreTimeout;
    if (relink) {
      // Keys on the old target cannot be cleaned through the new one.
      this.pendingCleanup.clear();
      void this.watchTriggers?.close().catch(() => {});
      this.watchTriggers = undefined;
      const link = this.link;
      this.link = undefined;
      this.target.set(undefined);
      link?.close();
      clearTimeout(this.reconnectTimer);
      try {
        this.attach(await this.opts.connect(after, this.log));
        this._state = "connected";
      } catch (e) {
        this.log.error(`SIGHUP: cannot connect with the new configuration: ${(e as Error).message}; retrying with backoff`);
        this._state = "reconnecting";
        this.lostAt = performance.now();
        this.reconnectAttempts = 0;
        this.scheduleReconnect();
      }
    } else if (old) {
      for (const k of old.agent.written().keys()) this.pendingCleanup.add(k);
    }
    if (this.stopping) return false;
    // Same target: the old pipeline's keys are known (pendingCleanup), no blanket removal needed.
    await this.startDaemon(relink || !old);
    this.opts.notifier?.notify(`READY=1\nSTATUS=Publishing ${this.current?.agent.written().size ?? 0} keys to ${this.target.name}`);
    this.settleLater();
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

/** Directories the toolstack creates for the guest: never removed, even when the agent left nothing in them. */
const TOOLSTACK_DIRS = new Set(["data", "attr", "feature", "control", "drivers", "error", "device", "vm-data", "xenserver", "xenserver/attr"]);

/**
 * The removals for keys no longer published: a key's highest ancestor that holds nothing still
 * written (and is not a toolstack directory) goes instead, so no empty directories are left
 * behind (`attr/PVAddons` after a switch to the rfc schema).
 */
export function prunedStale(stale: string[], written: ReadonlyMap<string, string>): string[] {
  const writtenPrefixes = new Set<string>();
  for (const k of written.keys()) {
    const parts = k.split("/");
    for (let i = 1; i <= parts.length; i++) writtenPrefixes.add(parts.slice(0, i).join("/"));
  }
  const out = new Set<string>();
  for (const key of stale) {
    const parts = key.split("/");
    let top = key;
    for (let i = parts.length - 1; i >= 1; i--) {
      const parent = parts.slice(0, i).join("/");
      if (TOOLSTACK_DIRS.has(parent) || writtenPrefixes.has(parent)) break;
      top = parent;
    }
    out.add(top);
  }
  // Drop paths inside another removed path.
  return [...out].filter((p) => ![...out].some((q) => q !== p && p.startsWith(`${q}/`)));
}
