// Holding log lines in memory, for the time filesystems are frozen (src/requests/fsfreeze): a
// line written then could block the agent on the frozen disk (journald and rsyslog write to
// /var/log), and with it the automatic thaw. Lines are kept in order and written when released;
// past MAX_HELD only the count of lost lines is kept.
import type { ConsolaReporter, LogObject } from "consola/core";

const MAX_HELD = 1000;

export class LogHold {
  private held: { reporter: ConsolaReporter; obj: LogObject }[] | undefined;
  private dropped = 0;

  get holding(): boolean {
    return this.held !== undefined;
  }

  hold(): void {
    this.held ??= [];
  }

  /** Writes what was held, in order, and lets lines through again. */
  release(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const { reporter, obj } of held) reporter.log(obj, undefined as never);
    const last = held[held.length - 1];
    if (this.dropped > 0 && last) {
      const text = `${this.dropped} log line(s) lost while filesystems were frozen`;
      last.reporter.log({ ...last.obj, level: 1, type: "warn", tag: "", args: [text], date: new Date() }, undefined as never);
    }
    this.dropped = 0;
  }

  /** A reporter that passes lines to `reporter`, or keeps them while held. */
  wrap(reporter: ConsolaReporter): ConsolaReporter {
    return {
      log: (obj, ctx) => {
        if (!this.held) return reporter.log(obj, ctx);
        if (this.held.length < MAX_HELD) this.held.push({ reporter, obj });
        else this.dropped++;
      },
    };
  }
}
