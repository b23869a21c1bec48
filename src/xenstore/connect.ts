// Where xenstore is on this host, and a connected client for it.
//
// Order (what libxenstore's xs_open does, plus the device the Linux driver registers):
// XENSTORED_PATH as given (a test daemon, or the guest bridge), then xenstored's socket (dom0),
// then the xenbus device (a domU: /dev/xen/xenbus, else xenfs's /proc/xen/xenbus). Host paths go
// through HostRoot (`--root /host` in a container): the device is opened with its symbolic links
// resolved inside the root, and only if it is what that path should be; XENSTORED_PATH is the
// caller's, used as is.
import { existsSync } from "node:fs";
import type { FileKind } from "../../native/index.ts";
import type { Logger } from "../log/logger.ts";
import { XenstoreClient, type XenstoreClientOptions } from "./client.ts";
import { DeviceTransport } from "./device-transport.ts";
import { SocketTransport } from "./socket-transport.ts";

/** Where host paths are (a HostRoot: `--root /host` in a container). */
export interface HostPaths {
  path(rel: string): string;
  openDevice(rel: string, kinds: readonly FileKind[]): number;
}

export interface XenstoreLocation {
  kind: "socket" | "device";
  path: string;
  /** Opens the device (found under a root: resolved inside it); by path when absent. */
  open?(): number;
}

const SOCKETS = ["run/xenstored/socket", "var/run/xenstored/socket"];
/** The devices and what each is: the driver's character device, xenfs's file. */
const DEVICES: readonly (readonly [string, FileKind])[] = [["dev/xen/xenbus", "character device"], ["proc/xen/xenbus", "regular file"]];

/** The first xenstore endpoint that exists, or undefined when this is not a Xen host. */
export function findXenstore(
  root: HostPaths,
  env: Record<string, string | undefined> = process.env,
): XenstoreLocation | undefined {
  const explicit = env.XENSTORED_PATH;
  if (explicit) return { kind: explicit.startsWith("/dev/") || explicit.startsWith("/proc/") ? "device" : "socket", path: explicit };
  for (const rel of SOCKETS) {
    const path = root.path(rel);
    if (existsSync(path)) return { kind: "socket", path };
  }
  for (const [rel, kind] of DEVICES) {
    const path = root.path(rel);
    if (existsSync(path)) return { kind: "device", path, open: () => root.openDevice(rel, [kind]) };
  }
  return undefined;
}

/**
 * Requests in flight on the xenbus device: one. The Linux driver queues a request with a pointer
 * into the open file's single message buffer (xenbus_dev_request_and_reply: `vec->iov_base = msg
 * + 1`) and its xenbus thread copies it into the ring later, so the next write() overwrites a
 * request that may not have left yet: the real-Xen run saw writes reach xenstored with their bytes
 * replaced by the next message's. A reply proves the request left, so the next one waits for it
 * (libxenstore, too, talks to the device one request at a time). Sockets pipeline.
 */
export const DEVICE_MAX_IN_FLIGHT = 1;

/** Client options for an endpoint kind: the device gets one request in flight. */
export function clientOptionsFor(kind: XenstoreLocation["kind"], opts: { timeoutMs?: number; log?: Logger }): XenstoreClientOptions {
  return kind === "device" ? { ...opts, maxInFlight: DEVICE_MAX_IN_FLIGHT } : opts;
}

/** Opens the endpoint; a missing or refused one rejects with a SystemError (ENOENT, ECONNREFUSED…). */
export async function connectXenstore(
  loc: XenstoreLocation,
  opts: { timeoutMs?: number; log?: Logger } = {},
): Promise<XenstoreClient> {
  const transport = loc.kind === "socket" ? new SocketTransport(loc.path) : new DeviceTransport(loc.path, loc.open?.());
  return new XenstoreClient(transport, clientOptionsFor(loc.kind, opts));
}
