// A publish target that records every request and can refuse chosen paths like xenstored would.
import type { PublishTarget } from "../../src/publish/publisher.ts";
import { XenstoreError } from "../../src/xenstore/errors.ts";

export class RecordingTarget implements PublishTarget {
  readonly name = "recording";
  readonly log: string[] = [];
  readonly store = new Map<string, string>();
  /** path prefix → xenstore error name to answer with */
  readonly refuse = new Map<string, string>();
  /** path → how many EAGAIN answers remain */
  readonly eagain = new Map<string, number>();
  /** Most keys the store takes (ENOSPC past it), like a full xenstored quota. */
  limit = Infinity;

  private fail(path: string): void {
    const left = this.eagain.get(path) ?? 0;
    if (left > 0) {
      this.eagain.set(path, left - 1);
      throw new XenstoreError("EAGAIN", "WRITE", path);
    }
    for (const [prefix, code] of this.refuse) {
      if (path === prefix || path.startsWith(`${prefix}/`)) throw new XenstoreError(code, "WRITE", path);
    }
  }

  async write(path: string, value: string): Promise<void> {
    this.log.push(`+ ${path} = ${value}`);
    this.fail(path);
    if (!this.store.has(path) && this.store.size >= this.limit) throw new XenstoreError("ENOSPC", "WRITE", path);
    this.store.set(path, value);
  }

  async rm(path: string): Promise<void> {
    this.log.push(`- ${path}`);
    this.fail(path);
    for (const k of [...this.store.keys()]) if (k === path || k.startsWith(`${path}/`)) this.store.delete(k);
  }

  take(): string[] {
    return this.log.splice(0);
  }
}
