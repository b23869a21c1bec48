// A clock for timing tests (src/events/timers.ts): time moves only when the test says so, and the
// timers due by then run in order, so a test asserts on windows and caps without sleeping.
import type { TimerHandle, Timers } from "../../src/events/timers.ts";

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeTimers implements Timers {
  private t = 0;
  private nextId = 1;
  private queue: Pending[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.queue.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.queue = this.queue.filter((p) => p.id !== handle);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.queue.length;
  }

  /** Moves time forward by `ms`, running every timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.queue.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.queue = this.queue.filter((p) => p !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}
