// The links the supervisor can open: xenstore (device or socket, found like libxenstore does) and
// the console publisher.
import type { AgentConfig } from "../config/options.ts";
import { FatalError } from "../errors.ts";
import { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";
import { consoleTarget } from "../publish/console-target.ts";
import type { PublishTarget } from "../publish/publisher.ts";
import type { XenstoreClient } from "../xenstore/client.ts";
import { connectXenstore, findXenstore } from "../xenstore/connect.ts";

/** One connection to where the agent publishes. */
export interface Link {
  /** For logs: `socket:/run/xenstored/socket`, `xenbus:/dev/xen/xenbus`, `console`. */
  readonly name: string;
  readonly target: PublishTarget;
  /** xenstore links: the client (watchers, read-back, host requests). Absent for the console publisher. */
  readonly client?: XenstoreClient;
  /** Prefix for paths on a privileged connection (tests); empty on a guest connection. */
  readonly base?: string;
  /** `cb` runs once when the link dies by itself (never after close()). */
  onLost(cb: (err: Error) => void): void;
  close(): void;
}

/** Opens a link for a configuration. Throws with a message that says why and what to do. */
export type Connector = (config: AgentConfig, log: Logger) => Promise<Link>;

/** Thrown when this host has no xenstore at all (not a Xen guest): exit 1, no retrying. */
export class NoXenstoreError extends FatalError {
  override name = "NoXenstoreError";
}

/**
 * A link over a connected client. Paths stay relative: on the guest's connection xenstored
 * resolves them under /local/domain/<domid>; on a privileged socket (dom0, tests) `base` (such as
 * `/local/domain/5`) is prepended.
 */
export function clientLink(client: XenstoreClient, base = ""): Link {
  return {
    name: client.transport,
    target: {
      name: client.transport,
      write: (path, value) => client.write(base ? `${base}/${path}` : path, value),
      rm: (path) => client.rm(base ? `${base}/${path}` : path),
    },
    client,
    base,
    onLost: (cb) => void client.onConnectionLost(cb),
    close: () => client.close(),
  };
}

export function consoleLink(out?: (line: string) => void): Link {
  return { name: "console", target: consoleTarget(out), onLost() {}, close() {} };
}

/** The production connector: console, or xenstore found under --root / XENSTORED_PATH. */
export function defaultConnector(env: Record<string, string | undefined> = process.env): Connector {
  return async (config: AgentConfig, log: Logger): Promise<Link> => {
    if (config.publisher === "console") return consoleLink();
    const root = new HostRoot(config.root);
    const location = findXenstore(root, env);
    if (!location) {
      const hypervisor = root.readLine("sys/hypervisor/type");
      const why = hypervisor === "xen"
        ? "this is a Xen guest but neither /dev/xen/xenbus nor /proc/xen/xenbus exists (is the xen_gntdev/xenfs support loaded, or /dev/xen mounted into the container?)"
        : `not a Xen guest (${hypervisor ? `sys/hypervisor/type is '${hypervisor}'` : `no ${root.path("sys/hypervisor/type")}`}) and no xenstore device or socket was found`;
      throw new NoXenstoreError(`${why}; to see what would be published, use --publisher console`);
    }
    try {
      const client = await connectXenstore(location, { timeoutMs: config.xenstoreTimeout * 1000, log: log.withTag("xenstore") });
      return clientLink(client);
    } catch (e) {
      throw new Error(`cannot open xenstore at ${location.path}: ${(e as Error).message}`);
    }
  };
}
