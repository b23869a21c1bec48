// The publish target that outlives connections: it delegates to the current connection's target,
// and while there is none (reconnecting) every request fails the way a lost connection does
// (an error without a xenstore `code`), so the publisher stops the batch and the supervisor
// republishes once connected again.
//
// It also absorbs EAGAIN: the daemon says "try again", never "no". The publisher gives up on a key
// after a few EAGAINs and then leaves it out until the next full republish, so a daemon that is
// busy for a while (oxenstored's conflict throttling) would cost keys. Here a write or removal is
// retried with backoff (10 ms doubling, capped at 100 ms) up to `eagainAttempts` times (about 10 s
// by default) before the EAGAIN reaches the publisher, which retries a few times more.
import type { PublishTarget } from "./publisher.ts";

export class NotConnectedError extends Error {
  override name = "NotConnectedError";
}

export interface SwitchableTargetOptions {
  idleName?: string;
  eagainAttempts?: number;
  eagainMaxDelayMs?: number;
}

export class SwitchableTarget implements PublishTarget {
  private current: PublishTarget | undefined;
  private readonly idleName: string;
  private readonly eagainAttempts: number;
  private readonly eagainMaxDelayMs: number;

  constructor(opts: SwitchableTargetOptions = {}) {
    this.idleName = opts.idleName ?? "xenstore";
    this.eagainAttempts = opts.eagainAttempts ?? 100;
    this.eagainMaxDelayMs = opts.eagainMaxDelayMs ?? 100;
  }

  get name(): string {
    return this.current?.name ?? this.idleName;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Points at a new connection's target, or at none (requests fail with NotConnectedError). */
  set(target: PublishTarget | undefined): void {
    this.current = target;
  }

  write(path: string, value: string): Promise<void> {
    return this.run((t) => t.write(path, value));
  }

  rm(path: string): Promise<void> {
    return this.run((t) => t.rm(path));
  }

  private async run(op: (t: PublishTarget) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const t = this.current;
      // One message whatever the key, so the agent logs the outage once, not once per key.
      if (!t) throw new NotConnectedError("not connected to xenstore (reconnecting)");
      try {
        return await op(t);
      } catch (e) {
        const code = (e as { code?: string }).code;
        // Another connection by now: the supervisor republishes everything anyway.
        if (code !== "EAGAIN" || attempt >= this.eagainAttempts || this.current !== t) throw e;
      }
      await Bun.sleep(Math.min(this.eagainMaxDelayMs, 10 * 2 ** (attempt - 1)));
    }
  }
}
