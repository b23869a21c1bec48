// The collectors feeding one pipeline until stopped: the network (rtnetlink), volumes (mount
// table), vCPUs (uevents), and the memory/host-name timer (memory has no event source).
import { Pipeline, type ReadBack } from "./pipeline.ts";
import { collectStaticFacts, timedCollectors } from "../collectors/static.ts";
import { VcpuCollector } from "../collectors/vcpu.ts";
import type { AgentConfig } from "../config/options.ts";
import type { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";
import type { NetworkFacts } from "../facts/facts.ts";
import { NetworkCollector, type NetworkCollectorOptions } from "../collectors/network/collector.ts";
import type { PublishTarget } from "../publish/publisher.ts";
import { VolumesCollector } from "../collectors/volumes/collector.ts";

export interface FactSourcesOptions {
  config: AgentConfig;
  log: Logger;
  root: HostRoot;
  target: PublishTarget;
  /** The heartbeat's value (std `data/updated`). */
  clock: () => string;
  /** Tests: collector settings (a tiny receive buffer to force overruns). */
  network?: Partial<NetworkCollectorOptions>;
  /** SR-IOV VFs by MAC (from xenstore; absent off XAPI hosts and for the console publisher). */
  sriov?: NetworkCollectorOptions["sriov"];
  /** Tests: how the collector is started (inside a network namespace: `withNetns(ns, () => c.start())`). */
  startNetwork?: (collector: NetworkCollector) => Promise<NetworkFacts>;
}

export class FactSources {
  readonly pipeline: Pipeline;
  private readonly network: NetworkCollector;
  private readonly volumes: VolumesCollector | undefined;
  private readonly vcpus: VcpuCollector | undefined;
  private readonly timed: ReturnType<typeof timedCollectors>;
  private memoryTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly opts: FactSourcesOptions) {
    const { config, log, root, target } = opts;
    this.timed = timedCollectors(root, log);
    this.pipeline = new Pipeline({ config, facts: collectStaticFacts(root, this.timed, log), target, log, clock: opts.clock });
    this.network = new NetworkCollector({ root, log: log.withTag("netlink"), coalesceMs: config.coalesceMs, ...(opts.sriov ? { sriov: opts.sriov } : {}), ...opts.network });
    if (config.volumes) this.volumes = new VolumesCollector({ root, log: log.withTag("volumes"), intervalSeconds: config.volumesInterval });
    if (config.vcpuHotplug) this.vcpus = new VcpuCollector({ root, log: log.withTag("vcpu") });
  }

  /**
   * Starts the collectors and resolves after the first full publish. `readBack` reads what a
   * previous run left in the tree, so only the difference is written (xenstore links).
   */
  async start(readBack?: ReadBack): Promise<void> {
    const { config, log } = this.opts;
    try {
      const network = await (this.opts.startNetwork ? this.opts.startNetwork(this.network) : this.network.start());
      if (this.stopped) return;
      this.pipeline.update("network", network);
      this.network.onChange((facts) => this.pipeline.update("network", facts));
    } catch (e) {
      if (!this.stopped) log.error(`network facts unavailable: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    // Volumes and vCPUs: event sources of their own (mount table poll, uevents); a failure costs
    // only their keys.
    if (this.volumes) {
      try {
        this.pipeline.update("volumes", this.volumes.start());
        this.volumes.onChange((facts) => this.pipeline.update("volumes", facts));
      } catch (e) {
        log.error(`volume facts unavailable: ${(e as Error).message}`);
      }
    }
    if (this.vcpus) {
      try {
        this.pipeline.update("vcpus", this.vcpus.start());
        this.vcpus.onChange((facts) => this.pipeline.update("vcpus", facts));
      } catch (e) {
        log.warn(`vCPU hot-plug unavailable (${(e as Error).message}); control/feature-vcpu-hotplug not advertised`);
      }
    }
    // In the same tick as the updates above: one first publish, starting from what is there.
    this.pipeline.republish(readBack);
    await this.pipeline.idle();
    if (this.stopped) return; // stopped (SIGTERM, SIGHUP) while the first publish ran
    // The only timer: memory has no event source. Only changed values are written.
    this.memoryTimer = setInterval(() => {
      this.pipeline.update("memory", this.timed.memory.collect());
      this.pipeline.update("host", this.timed.host.collect());
    }, config.memoryInterval * 1000);
  }

  /** The network collector's counters (overruns, dumps…), for tests and diagnostics. */
  networkStats(): ReturnType<NetworkCollector["stats"]> {
    return this.network.stats();
  }

  /** Runs VIF/SR-IOV detection again (the SR-IOV listing in xenstore changed). */
  reclassifyInterfaces(): void {
    this.network.reclassify();
  }

  /** Re-reads what may have changed unseen (after resume, or when events may have been lost). */
  resync(): void {
    this.network.resync();
    this.volumes?.refresh();
  }

  /** Stops collecting and waits for the publish in flight. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.memoryTimer);
    this.network.stop();
    this.volumes?.stop();
    this.vcpus?.stop();
    this.pipeline.stop();
    await this.pipeline.idle();
  }
}
