// The one backoff policy: exponential from a first delay, capped, optionally jittered. Every
// retry loop in the agent (reconnecting, watch registration, EAGAIN, transaction conflicts) takes
// its delays from here, with its constants named below so the docs can state them.

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Spread each delay over ±50 % so clients that failed together do not retry together. */
  jitter?: boolean;
}

/** Reconnecting to xenstore, and registering the watches the agent needs: 100 ms … 5 s. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5000 };

/**
 * A change xenstored answered EAGAIN to ("busy, try again"): the whole deferred batch is tried
 * again after 10 ms, doubling up to 250 ms, for as long as the daemon keeps saying EAGAIN. So a
 * key is written at most 250 ms after xenstored stops refusing it (README, docs/xenstore.md).
 */
export const EAGAIN_BACKOFF: BackoffPolicy = { initialMs: 10, maxMs: 250 };

/** A transaction that conflicted (EAGAIN on commit): 5 ms doubling to 1 s, jittered. */
export const TRANSACTION_BACKOFF: BackoffPolicy = { initialMs: 5, maxMs: 1000, jitter: true };

/** The delay before retry number `attempt` (1 = the first retry). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return policy.jitter ? base * (0.5 + random()) : base;
}

/** Counts the attempts of one retry loop: `next()` gives the next delay, `reset()` after a success. */
export class Backoff {
  private count = 0;

  constructor(readonly policy: BackoffPolicy) {}

  /** Retries so far since the last reset. */
  get attempts(): number {
    return this.count;
  }

  next(): number {
    this.count++;
    return backoffDelay(this.policy, this.count);
  }

  reset(): void {
    this.count = 0;
  }
}
