// Where xenstore is on this host, and a connected client for it.
//
// Order (what libxenstore's xs_open does, plus the device the Linux driver registers):
// XENSTORED_PATH as given (a test daemon, or the guest bridge), then xenstored's socket (dom0),
// then the xenbus device (a domU: /dev/xen/xenbus, else xenfs's /proc/xen/xenbus). Host paths go
// through HostRoot (`--root /host` in a container); XENSTORED_PATH is the caller's, used as is.
import { existsSync } from "node:fs";
import type { HostRoot } from "../host-root.ts";
import type { Logger } from "../logger.ts";
import { XenstoreClient } from "./client.ts";
import { DeviceTransport } from "./device-transport.ts";
import { SocketTransport } from "./socket-transport.ts";

export interface XenstoreLocation {
  kind: "socket" | "device";
  path: string;
}

const SOCKETS = ["run/xenstored/socket", "var/run/xenstored/socket"];
const DEVICES = ["dev/xen/xenbus", "proc/xen/xenbus"];

/** The first xenstore endpoint that exists, or undefined when this is not a Xen host. */
export function findXenstore(
  root: HostRoot,
  env: Record<string, string | undefined> = process.env,
): XenstoreLocation | undefined {
  const explicit = env.XENSTORED_PATH;
  if (explicit) return { kind: explicit.startsWith("/dev/") || explicit.startsWith("/proc/") ? "device" : "socket", path: explicit };
  for (const rel of SOCKETS) {
    const path = root.path(rel);
    if (existsSync(path)) return { kind: "socket", path };
  }
  for (const rel of DEVICES) {
    const path = root.path(rel);
    if (existsSync(path)) return { kind: "device", path };
  }
  return undefined;
}

/** Opens the endpoint; a missing or refused one rejects with a SystemError (ENOENT, ECONNREFUSED…). */
export async function connectXenstore(
  loc: XenstoreLocation,
  opts: { timeoutMs?: number; log?: Logger } = {},
): Promise<XenstoreClient> {
  const transport = loc.kind === "socket" ? new SocketTransport(loc.path) : new DeviceTransport(loc.path);
  return new XenstoreClient(transport, opts);
}
