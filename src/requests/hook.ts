// What the supervisor (src/lifecycle/) calls to serve host requests: one RequestChannel per
// xenstore link. The supervisor's side is five one-line calls, marked "host requests" there:
//
//   attach(link)      a xenstore link was attached: a channel is created and started on it
//   lost()            the link died: its watches died with it (the next attach makes a new channel)
//   republished()     a full republish ran (migration, resume, reconnect): advertise again, re-read
//   reloaded(loaded)  SIGHUP: the new [requests] policy
//   withdraw()        clean stop: feature keys removed, awaited before the link is closed
import type { LoadedConfig } from "../config/file.ts";
import { requestPolicy } from "../config/file.ts";
import type { RequestPolicy } from "../config/request-policy.ts";
import type { Logger } from "../log/logger.ts";
import { RequestChannel } from "./channel.ts";
import { requestTypes } from "./registry.ts";
import type { RequestClient, RequestType } from "./types.ts";
import { HostRoot } from "../collectors/host-root.ts";
import { RtnetlinkNetConfig } from "./static-ip/net-config.ts";
import { staticIpType } from "./static-ip/handler.ts";

export interface RequestsHookOptions {
  log: Logger;
  /**
   * The types beyond the built-in queries, per configuration and link (static-ip with its network
   * side; fsfreeze, which also writes its state outside requests and thaws when the link is lost).
   */
  types?(loaded: LoadedConfig, log: Logger, client: RequestClient, base: string): readonly RequestType[];
  /** The link was lost (fsfreeze thaws: no thaw request can reach it any more). */
  onLost?(): void;
  /** SIGHUP loaded a new policy (fsfreeze thaws when it is no longer allowed). */
  onPolicy?(policy: RequestPolicy): void;
}

export class RequestsHook {
  private channel: RequestChannel | undefined;
  private started: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: RequestsHookOptions) {
    this.log = opts.log.withTag("requests");
  }

  /** The current channel (tests). */
  get current(): RequestChannel | undefined {
    return this.channel;
  }

  attach(client: RequestClient, base: string, loaded: LoadedConfig): void {
    let channel: RequestChannel | undefined;
    const types = requestTypes({ describe: () => channel?.describe() ?? [], extra: this.opts.types?.(loaded, this.log, client, base) });
    channel = new RequestChannel({ client, base, types, policy: requestPolicy(loaded), log: this.log });
    this.channel = channel;
    this.started = channel.start().catch((e: Error) => {
      if (this.channel === channel) this.log.warn(`host requests not served: ${e.message}`);
    });
  }

  lost(): void {
    this.channel = undefined;
    this.opts.onLost?.();
  }

  republished(): void {
    const channel = this.channel;
    void this.started.then(() => channel?.republished());
  }

  reloaded(loaded: LoadedConfig): void {
    const channel = this.channel;
    const policy = requestPolicy(loaded);
    this.opts.onPolicy?.(policy);
    void this.started.then(() => channel?.setPolicy(policy));
  }

  async withdraw(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    await this.started;
    await channel?.withdraw();
  }
}

/**
 * The agent's hook: static-ip through the kernel's rtnetlink (one NetConfig for the process: it
 * remembers what it added), and the types the process adds (fsfreeze, with its own lifetime).
 */
export function defaultRequestsHook(
  log: Logger,
  more?: { types(client: RequestClient, base: string): readonly RequestType[]; onLost(): void; onPolicy?(policy: RequestPolicy): void },
): RequestsHook {
  const net = new RtnetlinkNetConfig();
  return new RequestsHook({
    log,
    types: (loaded, tagged, client, base) => [staticIpType({ net, root: new HostRoot(loaded.config.root), log: tagged }), ...(more?.types(client, base) ?? [])],
    onLost: () => more?.onLost(),
    onPolicy: (policy) => more?.onPolicy?.(policy),
  });
}
