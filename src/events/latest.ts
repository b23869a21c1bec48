// The last value an event source handed out, and its listeners: a new value is handed out only
// if it differs (deepEqual) from the last one. One listener failing does not stop the others.
import type { Logger } from "../log/logger.ts";
import { deepEqual } from "./equal.ts";

export class Latest<T> {
  private readonly listeners = new Set<(value: T) => void>();

  /** @param what names the source in the log ("network", "volumes") */
  constructor(private current: T, private readonly what: string, private readonly log: Logger) {}

  get value(): T {
    return this.current;
  }

  /** Takes `value` as known without telling anyone (the first snapshot, handed out by start()). */
  reset(value: T): void {
    this.current = value;
  }

  /** Hands `value` to the listeners if it changed; says whether it did. */
  set(value: T): boolean {
    if (deepEqual(value, this.current)) return false;
    this.current = value;
    for (const cb of this.listeners) {
      try {
        cb(value);
      } catch (e) {
        this.log.error(`${this.what} change listener failed: ${(e as Error).message}`);
      }
    }
    return true;
  }

  onChange(cb: (value: T) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}
