// The watches the agent needs on a link (migration/resume triggers, the SR-IOV listing, changes
// by others to the agent's keys), each registered until it succeeds: a watch that timed out or
// was refused once must not leave the agent blind to a migration for the rest of the link's life.
import { Backoff, RECONNECT_BACKOFF, type BackoffPolicy } from "../events/backoff.ts";
import type { Logger } from "../log/logger.ts";

export interface NeededWatch {
  /** For the log: "resume watches", "SR-IOV listing"… */
  readonly name: string;
  /** Registers it; resolves with how to remove it. */
  register(): Promise<{ close(): Promise<void> }>;
}

export class LinkWatches {
  private readonly registered: { close(): Promise<void> }[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly policy: BackoffPolicy = RECONNECT_BACKOFF,
  ) {}

  /** Registers `watch`, retrying with backoff until it is in place or close() is called. */
  add(watch: NeededWatch, onRegistered?: () => void): void {
    const backoff = new Backoff(this.policy);
    const attempt = (): void => {
      watch.register().then(
        (handle) => {
          if (this.closed) return void handle.close().catch(() => {});
          this.registered.push(handle);
          if (backoff.attempts > 0) this.log.info(`${watch.name} registered after ${backoff.attempts + 1} attempts`);
          else this.log.debug(`${watch.name} registered`);
          onRegistered?.();
        },
        (e: Error) => {
          if (this.closed) return;
          const delay = backoff.next();
          if (backoff.attempts === 1) this.log.warn(`${watch.name} not registered (${e.message}); retrying until it is`);
          else this.log.debug(`${watch.name} attempt ${backoff.attempts + 1} in ${delay} ms (${e.message})`);
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            if (!this.closed) attempt();
          }, delay);
          this.timers.add(timer);
        },
      );
    };
    attempt();
  }

  /** Stops retrying and removes what was registered (best effort: a lost link has none left). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled(this.registered.splice(0).map((h) => h.close()));
  }
}
