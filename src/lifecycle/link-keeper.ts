// Keeping the link to xenstore: open it, notice when it dies, reopen it with backoff, forever.
// The agent never exits because xenstore went away; only "there is no xenstore at all" (a
// FatalError from the connector: not a Xen guest) ends the start-up.
//
//   open ──► attached ──► lost ──► reconnecting (RECONNECT_BACKOFF: 100 ms … 5 s) ──► attached …
import type { AgentConfig } from "../config/options.ts";
import { FatalError } from "../errors.ts";
import { Backoff, RECONNECT_BACKOFF, type BackoffPolicy } from "../events/backoff.ts";
import type { Logger } from "../log/logger.ts";
import type { Connector, Link } from "./links.ts";

export type AttachReason = "start" | "reconnect" | "reopen";

export interface LinkKeeperOptions {
  connect: Connector;
  log: Logger;
  backoff?: BackoffPolicy;
  /** A link is up (the first, one after a loss, one after a reload changed the settings). */
  attached(link: Link, reason: AttachReason): void;
  /** The link went away; `attached` follows once a reconnect succeeds. */
  detached(link: Link, err: Error): void;
  /** A reconnect attempt failed; the next one comes after `nextDelayMs`. */
  reconnectFailed?(attempt: number, nextDelayMs: number): void;
  /** For systemd's STATUS=. */
  status(text: string): void;
}

export class LinkKeeper {
  private current: Link | undefined;
  private readonly backoff: Backoff;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lostAt = 0;
  private closed = false;
  /** What the next reconnect uses (a reload may change it). */
  private config: AgentConfig | undefined;

  constructor(private readonly opts: LinkKeeperOptions) {
    this.backoff = new Backoff(opts.backoff ?? RECONNECT_BACKOFF);
  }

  get link(): Link | undefined {
    return this.current;
  }

  get reconnecting(): boolean {
    return this.timer !== undefined || (!this.current && !this.closed && this.config !== undefined);
  }

  /**
   * Opens the first link. Rethrows FatalError (no xenstore here at all); any other failure (the
   * device or socket exists but refused) is retried with backoff like a lost link.
   */
  async open(config: AgentConfig, reason: "start" | "reopen" = "start"): Promise<void> {
    this.config = config;
    let link: Link;
    try {
      link = await this.opts.connect(config, this.opts.log);
    } catch (e) {
      if (e instanceof FatalError && reason === "start") throw e;
      this.opts.log.warn(`cannot connect yet: ${(e as Error).message}; retrying with backoff`);
      this.opts.status(`Cannot connect yet: ${(e as Error).message}; retrying`);
      this.enterReconnecting();
      return;
    }
    if (this.closed) return link.close();
    this.use(link, reason);
  }

  /** Reload changed where or how to connect: close the link and open a new one. */
  async reopen(config: AgentConfig): Promise<void> {
    this.drop();
    await this.open(config, "reopen");
  }

  /** A user of the link saw it fail (a publish aborted, a read failed): same as the link dying. */
  lost(link: Link, err: Error): void {
    if (link !== this.current || this.closed) return;
    this.drop();
    this.opts.log.warn(`lost ${link.name} (${err.message}); reconnecting`);
    this.opts.status(`Lost ${link.name}; reconnecting`);
    this.opts.detached(link, err);
    this.enterReconnecting();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.drop();
  }

  private use(link: Link, reason: AttachReason): void {
    this.current = link;
    link.onLost((err) => this.lost(link, err));
    this.opts.attached(link, reason);
  }

  private drop(): void {
    const link = this.current;
    this.current = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    link?.close();
  }

  /** The one way into "reconnecting". */
  private enterReconnecting(): void {
    this.lostAt = performance.now();
    this.backoff.reset();
    this.schedule();
  }

  private schedule(): number {
    const delay = this.backoff.next();
    this.timer = setTimeout(() => void this.reconnect(), delay);
    return delay;
  }

  private async reconnect(): Promise<void> {
    this.timer = undefined;
    if (this.closed || this.current || !this.config) return;
    const attempt = this.backoff.attempts;
    let link: Link;
    try {
      link = await this.opts.connect(this.config, this.opts.log);
    } catch (e) {
      if (attempt === 1) this.opts.log.warn(`reconnect failed: ${(e as Error).message}; retrying with backoff up to ${this.backoff.policy.maxMs / 1000} s`);
      else this.opts.log.debug(`reconnect attempt ${attempt} failed: ${(e as Error).message}`);
      if (this.closed || this.current) return;
      const next = this.schedule(); // not inside `?.(…)`: it must run with no listener too
      this.opts.reconnectFailed?.(attempt, next);
      return;
    }
    if (this.closed || this.current) return link.close();
    const secs = ((performance.now() - this.lostAt) / 1000).toFixed(1);
    this.opts.log.info(`reconnected to ${link.name} after ${attempt} attempt(s), ${secs} s: republishing everything`);
    this.use(link, "reconnect");
  }
}
