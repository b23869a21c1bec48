// The pipeline: collectors update slices of the facts, the schema turns the facts into the desired
// tree, the publisher writes the difference. Updates that arrive together become one publish, and
// only one publish runs at a time. The pipeline knows no key: the schema value says everything.
import type { FactKey, Facts } from "../facts/facts.ts";
import type { Logger } from "../log/logger.ts";
import { Backoff, EAGAIN_BACKOFF } from "../events/backoff.ts";
import { deepEqual } from "../events/equal.ts";
import { Publisher, type PublishResult, type PublishTarget } from "../publish/publisher.ts";
import { TreeBuilder, type Schema, type SchemaConfig } from "../schema/index.ts";
import type { Tree } from "../schema/tree.ts";

export interface PipelineOptions {
  config: SchemaConfig;
  facts: Facts;
  target: PublishTarget;
  log: Logger;
  /** The heartbeat's value where the schema has one (std: local time in C asctime() form). */
  clock: () => string;
}

/** Reads what the tree holds now, for a republish that writes only the difference. */
export type ReadBack = () => Promise<Tree>;

export class Pipeline {
  readonly schema: Schema;
  private readonly facts: Facts;
  private readonly builder: TreeBuilder;
  private readonly publisher: Publisher;
  private readonly log: Logger;
  private dirty = false;
  private running: Promise<void> | undefined;
  private lastError: unknown;
  /** A republish waiting for the next publish: what to start the mirror from. */
  private pendingReset: ReadBack | undefined;
  /** Counts republishes that started reading the tree back. */
  private resets = 0;
  /** Changes xenstored answered EAGAIN to are tried again on this schedule. */
  private readonly eagain = new Backoff(EAGAIN_BACKOFF);
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** Called after each publish (benchmarks, systemd readiness, tests). */
  onPublished: ((result: PublishResult) => void) | undefined;
  /** Called when a publish failed because the target went away. */
  onPublishFailed: ((err: unknown) => void) | undefined;

  constructor(opts: PipelineOptions) {
    this.facts = structuredClone(opts.facts);
    this.builder = new TreeBuilder(opts.config);
    this.schema = this.builder.schema;
    this.log = opts.log;
    const beat = this.schema.heartbeat;
    this.publisher = new Publisher(opts.target, {
      log: opts.log.withTag("publisher"),
      phase: this.schema.phase,
      ...(beat ? { heartbeat: { ...beat, clock: opts.clock } } : {}),
    });
  }

  snapshot(): Facts {
    return this.facts;
  }

  /** Replaces one slice of the facts; publishes (soon) only if it changed. */
  update<K extends FactKey>(key: K, value: Facts[K]): void {
    if (deepEqual(this.facts[key], value)) return;
    if (value === undefined) delete this.facts[key];
    else this.facts[key] = value;
    this.schedule();
  }

  /**
   * Publish everything again (restart, migration, resume, reconnect, reload): the mirror starts
   * from what `readBack` finds in the tree (nothing when absent), so only the difference is
   * written and what is there but no longer wanted is removed.
   */
  republish(readBack?: ReadBack): void {
    this.pendingReset = readBack ?? (async () => new Map());
    this.schedule();
  }

  /** A republish was asked for and has not started reading the tree back yet. */
  get republishPending(): boolean {
    return this.pendingReset !== undefined;
  }

  /** Moves each time a republish starts reading the tree back. */
  get republishEpoch(): number {
    return this.resets;
  }

  /** Someone else changed or removed `path`: what the agent has there is written again. */
  forget(path: string): void {
    if (this.publisher.forget(path)) this.schedule();
  }

  /** Publishes to `target` from now on (the lifecycle's link changed). */
  retarget(target: PublishTarget): void {
    this.publisher.retarget(target);
  }

  get targetName(): string {
    return this.publisher.targetName;
  }

  /** What the publisher believes it has written. */
  written(): ReadonlyMap<string, string> {
    return this.publisher.written();
  }

  /** Resolves when no publish is running or pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** The tree the agent wants published now. */
  desiredTree(): Tree {
    return this.builder.build(this.facts);
  }

  /** No more publishes from this pipeline (a reload replaced it, or the agent stops). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Requests a publish; updates made in the same tick are published together. */
  schedule(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private async drain(): Promise<void> {
    await Promise.resolve(); // let synchronous updates from the same tick join this publish
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        const reset = this.pendingReset;
        this.pendingReset = undefined;
        if (reset) {
          this.resets++;
          const found = await reset();
          this.publisher.reset(found);
          this.builder.reset();
        }
        const result = await this.publisher.publish(this.desiredTree());
        this.lastError = undefined;
        if (result.deferred > 0) this.retryDeferred();
        else this.eagain.reset();
        this.onPublished?.(result);
      } catch (e) {
        if (String(e) !== String(this.lastError)) this.log.error(`publish failed: ${(e as Error).message}`);
        this.lastError = e;
        this.onPublishFailed?.(e);
        return;
      }
    }
  }

  /** xenstored said EAGAIN (busy): the deferred changes go out again after EAGAIN_BACKOFF. */
  private retryDeferred(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, this.eagain.next());
  }
}
