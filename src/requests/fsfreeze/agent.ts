// fsfreeze in the daemon: the service built from the configuration, served on each xenstore
// connection the supervisor opens, stopped (thawing) before the agent exits.
import type { AgentConfig } from "../../config/options.ts";
import type { HostRoot } from "../../collectors/host-root.ts";
import { collectVolumesOnce, mountinfoPath } from "../../collectors/volumes/collector.ts";
import { parseMountinfo } from "../../collectors/volumes/mountinfo.ts";
import type { Logger } from "../../log/logger.ts";
import { freezeFilesystem, thawFilesystem } from "../../../native/fsfreeze.ts";
import { DirectoryHooks } from "./hooks.ts";
import { FileMarker } from "./marker.ts";
import type { FreezeStateName, FsfreezeReply, ThawCause } from "./protocol.ts";
import { FsfreezeService, recoverAfterCrash, type Filesystems } from "./service.ts";
import { serveFsfreeze, type FsfreezeChannel, type FsfreezeClient } from "./xenstore.ts";

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
  private channel: FsfreezeChannel | undefined;
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
      publish: (state: FreezeStateName, reply?: FsfreezeReply) => this.channel?.publish(state, reply) ?? Promise.resolve(),
    });
  }

  /** Serves the keys on a new connection (after a reconnect too). */
  async attach(client: FsfreezeClient, base = ""): Promise<void> {
    const previous = this.channel;
    this.channel = undefined;
    await previous?.close();
    this.channel = await serveFsfreeze(client, this.service, this.log, base);
  }

  /** Thaws what is frozen, then withdraws the feature. */
  async stop(cause: ThawCause): Promise<void> {
    await this.service.stop(cause);
    await this.service.flushed();
    await this.channel?.close();
    this.channel = undefined;
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
