// fsfreeze in the daemon: the service built from the configuration, served on each xenstore
// connection the supervisor opens, stopped (thawing) before the agent exits.
import type { AgentConfig } from "../../config/options.ts";
import type { RequestPolicy } from "../../config/request-policy.ts";
import type { HostRoot } from "../../collectors/host-root.ts";
import { collectVolumesOnce, mountinfoPath } from "../../collectors/volumes/collector.ts";
import { parseMountinfo } from "../../collectors/volumes/mountinfo.ts";
import type { Logger } from "../../log/logger.ts";
import { readIfPresent } from "../../xenstore/errors.ts";
import { freezeFilesystem, thawFilesystem } from "../../../native/index.ts";
import { DirectoryHooks } from "./hooks.ts";
import { FileMarker } from "./marker.ts";
import { STATE_KEY, type FreezeStateName, type ThawCause } from "./protocol.ts";
import { FSFREEZE_TYPE, fsfreezeType } from "./request-type.ts";
import { FsfreezeService, recoverAfterCrash, type Filesystems } from "./service.ts";
import type { RequestClient, RequestType } from "../types.ts";

export const KERNEL_FILESYSTEMS: Filesystems = { freeze: freezeFilesystem, thaw: thawFilesystem };

/** The mount table under this root (throws when it cannot be read). */
function readMountTable(root: HostRoot) {
  const text = root.readText(mountinfoPath(root));
  if (text === undefined) throw new Error(`cannot read ${root.path(mountinfoPath(root))}`);
  return parseMountinfo(text).mounts;
}

export interface FsfreezeAgentOptions {
  config: AgentConfig;
  root: HostRoot;
  log: Logger;
  logHold: { hold(): void; release(): void };
  /** Tests: fakes for the ioctls. */
  fs?: Filesystems;
}

export class FsfreezeAgent {
  readonly service: FsfreezeService;
  /** Where state changes outside requests go: the current link. */
  private link: { client: RequestClient; base: string } | undefined;
  private readonly log: Logger;

  constructor(opts: FsfreezeAgentOptions) {
    const { config, root } = opts;
    this.log = opts.log.withTag("fsfreeze");
    this.service = new FsfreezeService({
      limits: { timeoutS: config.fsfreezeTimeout },
      fs: opts.fs ?? KERNEL_FILESYSTEMS,
      hooks: new DirectoryHooks({ dir: config.fsfreezeHooks, timeoutMs: config.fsfreezeHookTimeout * 1000 }),
      marker: new FileMarker(config.fsfreezeMarker),
      logHold: opts.logHold,
      log: this.log,
      mountTable: () => readMountTable(root),
      volumes: () => collectVolumesOnce(root, this.log),
      realPath: (mp) => root.path(mp),
      now: () => performance.now(),
      publish: (state: FreezeStateName) => this.writeState(state),
    });
  }

  /** The request type for the channel on a new link (RequestsHook's `types`, once per link). */
  requestType(client: RequestClient, base: string): RequestType {
    this.link = { client, base };
    // What a run that died while frozen left in data/fsfreeze/state is corrected at once (a guest
    // that never used fsfreeze gets no key).
    const at = base ? `${base}/${STATE_KEY}` : STATE_KEY;
    void readIfPresent(client, at)
      .then((was) => (was !== undefined && was !== this.service.stateName() ? this.writeState(this.service.stateName()) : undefined))
      .catch((e: Error) => this.log.debug(`fsfreeze state not corrected: ${e.message}`));
    return fsfreezeType(this.service);
  }

  /**
   * The link is gone (RequestsHook's `onLost`): no thaw request could arrive any more, so what is
   * frozen is thawed now rather than at the automatic thaw.
   */
  lost(): void {
    this.link = undefined;
    void this.service.handle({ type: "shutdown", cause: "xenstore-lost" });
  }

  /**
   * SIGHUP loaded a policy: with fsfreeze no longer allowed, what is frozen is thawed now (the
   * thaw request the host would send is refused from now on, so waiting for the automatic thaw
   * would keep the guest frozen for nothing).
   */
  async policyChanged(policy: RequestPolicy): Promise<void> {
    if (policy.allows(FSFREEZE_TYPE) || !this.service.current.frozen) return;
    this.log.info("fsfreeze turned off in the configuration: thawing now");
    await this.service.handle({ type: "shutdown", cause: "disabled" });
    await this.service.flushed();
  }

  /** SIGTERM, SIGINT, a failed start: thaws what is frozen; no request is carried out after it. */
  async stop(cause: ThawCause): Promise<void> {
    await this.service.stop(cause);
    await this.service.flushed();
  }

  private async writeState(state: FreezeStateName): Promise<void> {
    const link = this.link;
    if (!link) return;
    await link.client.write(link.base ? `${link.base}/${STATE_KEY}` : STATE_KEY, state);
  }
}

/**
 * At start, before anything is logged: thaws what a run that died while frozen left frozen
 * (its marker), whatever the configuration says now. Returns the log lines to write.
 */
export function thawLeftovers(config: AgentConfig, root: HostRoot, fs: Filesystems = KERNEL_FILESYSTEMS): string[] {
  const marker = new FileMarker(config.fsfreezeMarker);
  let result: ReturnType<typeof recoverAfterCrash>;
  try {
    result = recoverAfterCrash(marker, fs, readMountTable(root), (mp) => root.path(mp));
  } catch (e) {
    return [`fsfreeze: cannot check ${marker.path} for filesystems left frozen: ${(e as Error).message}`];
  }
  if (!result) return [];
  const lines = [`fsfreeze: a previous run stopped while filesystems were frozen; thawed ${result.thawed.join(", ") || "nothing"}`];
  for (const f of result.failed) lines.push(`fsfreeze: not thawed: ${f}`);
  return lines;
}
