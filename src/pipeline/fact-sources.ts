// The running agent: collectors feeding the pipeline until stopped.
import { Agent, staleSubtrees } from "./pipeline.ts";
import { collectStaticFacts } from "../collectors/static.ts";
import { collectHost } from "../collectors/hostname.ts";
import { collectMemory } from "../collectors/meminfo.ts";
import { VcpuCollector } from "../collectors/vcpu.ts";
import type { AgentConfig } from "../config/options.ts";
import type { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";
import type { NetworkFacts } from "../facts/facts.ts";
import { NetworkCollector, type NetworkCollectorOptions } from "../collectors/network/collector.ts";
import type { PublishTarget } from "../publish/publisher.ts";
import { VolumesCollector } from "../collectors/volumes/collector.ts";

export interface DaemonOptions {
  config: AgentConfig;
  log: Logger;
  root: HostRoot;
  target: PublishTarget;
  /** Tests: collector settings (a tiny receive buffer to force overruns). */
  network?: Partial<NetworkCollectorOptions>;
  /**
   * Remove what a previous run may have left (`staleSubtrees`) before the first publish (default
   * true). A reload knows exactly what the previous pipeline wrote and passes false: removing and
   * rewriting would make dom0 see the interfaces vanish for a moment.
   */
  removeStale?: boolean;
  /** SR-IOV VFs by MAC (from xenstore; absent off XAPI hosts and for the console publisher). */
  sriov?: NetworkCollectorOptions["sriov"];
  /** Tests: how the collector is started (inside a network namespace: `withNetns(ns, () => c.start())`). */
  startNetwork?: (collector: NetworkCollector) => Promise<NetworkFacts>;
}

export class Daemon {
  readonly agent: Agent;
  private readonly network: NetworkCollector;
  private readonly volumes: VolumesCollector | undefined;
  private readonly vcpus: VcpuCollector | undefined;
  private memoryTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly opts: DaemonOptions) {
    const { config, log, root, target } = opts;
    this.agent = new Agent({ config, facts: collectStaticFacts(root), target, log });
    this.network = new NetworkCollector({ root, log: log.withTag("netlink"), coalesceMs: config.coalesceMs, ...(opts.sriov ? { sriov: opts.sriov } : {}), ...opts.network });
    if (config.volumes) this.volumes = new VolumesCollector({ root, log: log.withTag("volumes"), intervalSeconds: config.volumesInterval });
    if (config.vcpuHotplug) this.vcpus = new VcpuCollector({ root, log: log.withTag("vcpu") });
  }

  /** Starts the collectors and resolves after the first full publish. */
  async start(): Promise<void> {
    const { config, log, root, target } = this.opts;
    // A previous run's interfaces may be gone: their keys are rebuilt from scratch.
    for (const path of this.opts.removeStale === false ? [] : staleSubtrees(config.schema)) {
      await target.rm(path).catch((e: Error & { code?: string }) => {
        if (e.code !== "ENOENT") log.warn(`could not remove stale ${path}: ${e.message}`);
      });
    }
    try {
      const network = await (this.opts.startNetwork ? this.opts.startNetwork(this.network) : this.network.start());
      if (this.stopped) return;
      this.agent.update("network", network);
      this.network.onChange((facts) => this.agent.update("network", facts));
    } catch (e) {
      if (!this.stopped) log.error(`network facts unavailable: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    // Volumes and vCPUs: event sources of their own (mount table poll, uevents); a failure costs
    // only their keys.
    if (this.volumes) {
      try {
        this.agent.update("volumes", this.volumes.start());
        this.volumes.onChange((facts) => this.agent.update("volumes", facts));
      } catch (e) {
        log.error(`volume facts unavailable: ${(e as Error).message}`);
      }
    }
    if (this.vcpus) {
      try {
        this.agent.update("vcpus", this.vcpus.start());
        this.vcpus.onChange((facts) => this.agent.update("vcpus", facts));
      } catch (e) {
        log.warn(`vCPU hot-plug unavailable (${(e as Error).message}); control/feature-vcpu-hotplug not advertised`);
      }
    }
    this.agent.schedule();
    await this.agent.idle();
    if (this.stopped) return; // stopped (SIGTERM, SIGHUP) while the first publish ran
    // The only timer: memory has no event source. Only changed values are written.
    this.memoryTimer = setInterval(() => {
      this.agent.update("memory", collectMemory(root));
      this.agent.update("host", collectHost(root));
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
    this.agent.stop();
    await this.agent.idle();
  }
}
