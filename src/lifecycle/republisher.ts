// Triggers → one republish. Triggers that arrive together (a migration fires the resume watch,
// unique-domain-id and the clock at once) become one republish after a short settle. A clock step
// on its own does not prove the tree was replaced (NTP, `date -s` and the hypervisor's time sync
// step the clock too, and a CANCEL_ON_SET timerfd cannot tell them from a resume); the published
// tree can: a migrated or restored domain's tree is new and empty. One READ of a key the agent
// wrote decides; anything but our value back (gone, changed, an error) republishes.
import type { Logger } from "../log/logger.ts";
import type { Pipeline } from "../pipeline/pipeline.ts";
import { XenstoreError } from "../xenstore/errors.ts";
import type { Link } from "./links.ts";
import { SettleBatch } from "../events/window.ts";
import type { TriggerReason } from "./triggers.ts";

export interface RepublisherOptions {
  /** How long triggers may keep arriving before the one republish. */
  settleMs: number;
  log: Logger;
  /** The running pipeline and link, if any. */
  current(): { pipeline: Pipeline | undefined; link: Link | undefined };
  /** Republish everything now (the supervisor reads the tree back and resets the mirror). */
  republishAll(reasons: TriggerReason[]): void;
  /** The probe read failed on the link itself. */
  lost(link: Link, err: Error): void;
  /** A clock step alone was checked: `replaced` says whether the tree was gone. */
  clockStepChecked?(replaced: boolean): void;
}

export class Republisher {
  private readonly coalescer: SettleBatch<TriggerReason>;

  constructor(private readonly opts: RepublisherOptions) {
    this.coalescer = new SettleBatch(opts.settleMs, (reasons) => this.run(reasons));
  }

  /** A republish is coming (a clock step alone only checks the tree, so it does not count). */
  get pending(): boolean {
    return this.coalescer.waiting.some((r) => r !== "clock-jump");
  }

  trigger(reason: TriggerReason): void {
    this.coalescer.fire(reason);
  }

  cancel(): void {
    this.coalescer.cancel();
  }

  private run(reasons: TriggerReason[]): void {
    if (reasons.every((r) => r === "clock-jump")) void this.republishIfTreeLost(reasons);
    else this.opts.republishAll(reasons);
  }

  private async republishIfTreeLost(reasons: TriggerReason[]): Promise<void> {
    const { pipeline, link } = this.opts.current();
    if (!pipeline || !link?.client) return; // the console keeps nothing to lose
    await pipeline.idle(); // a publish in flight would move the value under the read
    const written = pipeline.written();
    const key = pipeline.schema.heartbeat?.key;
    const probe = key && written.has(key) ? key : written.keys().next().value;
    if (probe === undefined || !this.still(pipeline, link)) return;
    let actual: string | undefined;
    try {
      actual = await link.client.read(link.base ? `${link.base}/${probe}` : probe);
    } catch (e) {
      if (!(e instanceof XenstoreError)) return this.opts.lost(link, e as Error); // the reconnect republishes
      actual = e.code === "ENOENT" ? undefined : `(${e.message})`;
    }
    if (!this.still(pipeline, link)) return;
    const replaced = actual !== written.get(probe);
    if (replaced) {
      this.opts.log.info(`the wall clock jumped and ${probe} ${actual === undefined ? "is gone" : "no longer holds what we wrote"} (resume or migration): republishing everything`);
      this.opts.republishAll(reasons);
    } else {
      this.opts.log.debug(`${probe} is still ours: a clock step, not a resume; nothing to republish`);
    }
    this.opts.clockStepChecked?.(replaced);
  }

  private still(pipeline: Pipeline, link: Link): boolean {
    const now = this.opts.current();
    return now.pipeline === pipeline && now.link === link;
  }
}
