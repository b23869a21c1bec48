// Warnings about the host's data (malformed messages, unreadable paths) that may repeat forever:
// the first few are warnings, the rest debug; a condition keyed with `episode` is warned about
// once until `over(key)` says it ended.
import type { Logger } from "../log/logger.ts";

/** Warnings per source before they go to debug. */
export const MAX_WARNINGS = 5;

export class Warner {
  private count = 0;
  private readonly open = new Set<string>();

  constructor(private readonly log: Logger, private readonly max = MAX_WARNINGS) {}

  /** Warnings given so far (debug ones included). */
  get total(): number {
    return this.count;
  }

  warn(message: string): void {
    this.count++;
    if (this.count <= this.max) this.log.warn(message);
    else this.log.debug(message);
  }

  /** Warns about `key` only if it is not already known to be failing. */
  episode(key: string, message: string): void {
    if (this.open.has(key)) return;
    this.open.add(key);
    this.warn(message);
  }

  /** `key` works again: its next failure is news. */
  over(key: string): void {
    this.open.delete(key);
  }
}
