// A publish target that records every request and can refuse chosen paths like xenstored would.
import type { PublishTarget } from "../../src/publish/publisher.ts";

export class RecordingTarget implements PublishTarget {
  readonly name = "recording";
  readonly log: string[] = [];
  readonly store = new Map<string, string>();
  /** path prefix → xenstore error name to answer with */
  readonly refuse = new Map<string, string>();
  /** path → how many EAGAIN answers remain */
  readonly eagain = new Map<string, number>();

  private fail(path: string): void {
    const left = this.eagain.get(path) ?? 0;
    if (left > 0) {
      this.eagain.set(path, left - 1);
      throw Object.assign(new Error(`EAGAIN ${path}`), { code: "EAGAIN" });
    }
    for (const [prefix, code] of this.refuse) {
      if (path === prefix || path.startsWith(`${prefix}/`)) throw Object.assign(new Error(`${code} ${path}`), { code });
    }
  }

  async write(path: string, value: string): Promise<void> {
    this.log.push(`+ ${path} = ${value}`);
    this.fail(path);
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
