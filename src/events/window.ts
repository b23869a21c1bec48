// When to deliver a batch of changes (the network collector's batches, the volumes collector's
// rescans), and, at the end, the trailing-only batch that turns triggers into one republish.
//
// - Quiet, then a read that brought a few changes (`ip addr add`): delivered at once, at the end
//   of that read.
// - Then a window opens. Changes inside it wait; every change moves its end to `windowMs` after
//   that change (the burst has not settled yet), but never beyond `maxWindowMs` after it opened, so
//   a storm is still published at least that often. When it closes the waiting changes go out
//   together and a new window opens behind them.
// - Quiet, then a read that brought many changes at once: a burst is under way (`ip -batch`, a
//   container starting, a re-dump). It opens a window instead of going out, so dom0 never sees
//   the half-applied state: replacing 500 addresses is one batch, not "500 removed" then "500
//   added" (which wrote every key twice and showed a VM without addresses for ~100 ms).
//
// The window's timer exists only after a change, so nothing runs while idle (Tailscale netmon
// sleeps after each run in the same spirit: the first event is handled at once, a burst shrinks
// to one).
import type { TimerHandle, Timers } from "./timers.ts";
import { realTimers } from "./timers.ts";

/** More changes than this in one read, after a quiet period, open a window instead of going out. */
export const BURST_CHANGES = 16;

export interface WindowTiming {
  /** Quiet time after the last change before waiting changes go out (0: deliver on every settle). */
  windowMs: number;
  /** A window never stays open longer than this, however the changes keep coming. */
  maxWindowMs: number;
  /** More changes than this in one read after a quiet period are a burst (default BURST_CHANGES). */
  burstChanges?: number;
}

export class CoalescingWindow {
  private timer?: TimerHandle;
  private dirty = false;
  /** Changes marked since the last delivery or settle. */
  private marks = 0;
  private openedAt = 0;
  private lastChangeAt = 0;

  /**
   * @param timing    window and cap (see WindowTiming)
   * @param ready     false holds delivery (no snapshot yet, or a dump is incomplete)
   * @param deliver   builds and hands out the batch
   * @param timers    the clock (tests pass a fake one)
   */
  constructor(
    private readonly timing: WindowTiming,
    private readonly ready: () => boolean,
    private readonly deliver: () => void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Something changed. */
  mark(): void {
    this.dirty = true;
    this.marks++;
    if (this.timer !== undefined) this.lastChangeAt = this.timers.now();
  }

  /** Forget pending changes (they are part of a snapshot handed out by other means). */
  clear(): void {
    this.dirty = false;
    this.marks = 0;
  }

  /** The end of a read: delivers now, or leaves it to the window (see the top of this file). */
  settle(): void {
    const burst = this.marks > (this.timing.burstChanges ?? BURST_CHANGES);
    this.marks = 0;
    if (!this.dirty || this.timer !== undefined || !this.ready()) return;
    if (this.timing.windowMs > 0 && burst) {
      this.open();
      return;
    }
    this.flush();
  }

  cancel(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private flush(): void {
    this.dirty = false;
    this.deliver();
    if (this.timing.windowMs > 0) this.open();
  }

  private open(): void {
    this.openedAt = this.lastChangeAt = this.timers.now();
    this.arm(this.timing.windowMs);
  }

  private arm(ms: number): void {
    this.timer = this.timers.setTimeout(() => this.windowEnd(), Math.max(0, Math.ceil(ms)));
  }

  private windowEnd(): void {
    const now = this.timers.now();
    const end = Math.min(this.lastChangeAt + this.timing.windowMs, this.openedAt + this.timing.maxWindowMs);
    if (now < end) {
      this.arm(end - now); // changes came in since: the burst is still going
      return;
    }
    this.timer = undefined;
    this.marks = 0;
    if (this.dirty && this.ready()) this.flush();
  }
}

/**
 * Turns triggers that arrive together into one action: the first trigger opens a window of
 * `settleMs`; every trigger until it closes joins, then `run` gets all their reasons once.
 * Nothing is delivered at the first trigger (unlike CoalescingWindow): the state is still moving.
 * A trigger while `run` is in progress opens a new window (the state may have changed again).
 */
export class SettleBatch<R extends string> {
  private reasons = new Set<R>();
  private timer: TimerHandle | undefined;

  constructor(
    private readonly settleMs: number,
    private readonly run: (reasons: R[]) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** The reasons waiting for the settle to end. */
  get waiting(): R[] {
    return [...this.reasons];
  }

  fire(reason: R): void {
    this.reasons.add(reason);
    this.timer ??= this.timers.setTimeout(() => {
      this.timer = undefined;
      const reasons = [...this.reasons];
      this.reasons.clear();
      this.run(reasons);
    }, this.settleMs);
  }

  cancel(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.reasons.clear();
  }
}
