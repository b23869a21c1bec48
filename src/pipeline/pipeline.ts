// The pipeline: collectors update slices of the facts, the schema turns the facts into the desired
// tree, the publisher writes the difference. Updates that arrive together become one publish, and
// only one publish runs at a time.
import type { AgentConfig } from "../config/options.ts";
import type { FactKey, Facts } from "../facts/facts.ts";
import type { Logger } from "../log/logger.ts";
import { reportedInterfaces, type InterfacePolicy } from "../schema/interfaces.ts";
import { Publisher, type PublishResult, type PublishTarget } from "../publish/publisher.ts";
import { rfcTree } from "../schema/rfc.ts";
import { stdTree, type SlotState } from "../schema/std.ts";
import type { Tree } from "../schema/tree.ts";

export type SchemaConfig = Pick<AgentConfig, "schema" | "extended" | "include" | "exclude" | "linkLocal">;

export function interfacePolicy(config: SchemaConfig): InterfacePolicy {
  return { include: config.include, exclude: config.exclude, linkLocal: config.linkLocal };
}

/** Builds the desired tree for the configured schema. Pure but for the carried address slots. */
export class TreeBuilder {
  private slots: SlotState = new Map();

  constructor(private readonly config: SchemaConfig) {}

  build(facts: Facts): Tree {
    const interfaces = facts.network
      ? reportedInterfaces(facts.network, interfacePolicy(this.config), { toolstackOnly: this.config.schema === "std" })
      : [];
    if (this.config.schema === "rfc") return rfcTree(facts, interfaces);
    const { tree, slots } = stdTree(facts, interfaces, this.slots, { extended: this.config.extended });
    this.slots = slots;
    return tree;
  }

  /** Forget address indices (a republish into an empty tree may number from 0 again). */
  reset(): void {
    this.slots = new Map();
  }
}

/**
 * The keys a previous run may have left that this run rebuilds from scratch (interfaces and
 * volumes that are gone, a feature that is now turned off).
 */
export function staleSubtrees(schema: AgentConfig["schema"]): string[] {
  return schema === "std"
    ? ["attr/vif", "xenserver/attr/net-sriov-vf", "data/volumes", "control/feature-vcpu-hotplug"]
    : ["data/net", "data/volumes", "data/vcpus"];
}

/** std: rewritten after every batch that changed something, as xe-guest-utilities does. */
export const HEARTBEAT_KEY = "data/updated";

export interface AgentOptions {
  config: SchemaConfig;
  facts: Facts;
  target: PublishTarget;
  log: Logger;
}

export class Agent {
  private readonly facts: Facts;
  private readonly builder: TreeBuilder;
  private readonly publisher: Publisher;
  private readonly log: Logger;
  private dirty = false;
  private running: Promise<void> | undefined;
  private lastError: unknown;
  /** Set while a publish that was answered EAGAIN waits to be tried again. */
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** Called after each publish (benchmarks, systemd readiness, tests). */
  onPublished: ((result: PublishResult) => void) | undefined;
  /** Called when a publish failed because the target went away. */
  onPublishFailed: ((err: unknown) => void) | undefined;

  constructor(opts: AgentOptions) {
    this.facts = structuredClone(opts.facts);
    this.builder = new TreeBuilder(opts.config);
    this.log = opts.log;
    const std = opts.config.schema === "std";
    this.publisher = new Publisher(opts.target, {
      log: opts.log.withTag("publisher"),
      ...(std ? { heartbeatKey: HEARTBEAT_KEY, quietKeys: ["data/meminfo_free"] } : {}),
    });
  }

  snapshot(): Facts {
    return this.facts;
  }

  /** Replaces one slice of the facts; publishes (soon) only if it changed. */
  update<K extends FactKey>(key: K, value: Facts[K]): void {
    if (JSON.stringify(this.facts[key]) === JSON.stringify(value)) return;
    if (value === undefined) delete this.facts[key];
    else this.facts[key] = value;
    this.schedule();
  }

  /** Forget what was written and publish everything again (migration, resume, reconnect). */
  republishAll(): void {
    this.publisher.reset();
    this.builder.reset();
    this.schedule();
  }

  /** What the publisher believes it has written (lifecycle: keys to clean after a reconnect or reload). */
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

  /** A busy daemon (EAGAIN): try the deferred changes again in a second, once. */
  private retryLater(): void {
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, 1000);
  }

  private async drain(): Promise<void> {
    await Promise.resolve(); // let synchronous updates from the same tick join this publish
    while (this.dirty) {
      this.dirty = false;
      try {
        const result = await this.publisher.publish(this.desiredTree());
        this.lastError = undefined;
        if (result.deferred > 0) this.retryLater();
        this.onPublished?.(result);
      } catch (e) {
        if (String(e) !== String(this.lastError)) this.log.error(`publish failed: ${(e as Error).message}`);
        this.lastError = e;
        this.onPublishFailed?.(e);
        return;
      }
    }
  }
}
