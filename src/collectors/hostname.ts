// The host name, which XAPI shows as the VM's host name (`data/host_name_dns` + `data/domain`).
import type { HostFacts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";

/** A DNS host name: labels of letters, digits and hyphens (RFC 1123), at most 253 characters. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Splits a host name into its first label and the DNS domain (empty when not fully qualified). */
export function hostFactsFrom(name: string): HostFacts | undefined {
  const trimmed = name.trim().replace(/\.$/, "");
  if (!HOSTNAME.test(trimmed) || trimmed === "localhost" || trimmed === "(none)") return undefined;
  const dot = trimmed.indexOf(".");
  return dot < 0
    ? { hostName: trimmed, domain: "" }
    : { hostName: trimmed.slice(0, dot), domain: trimmed.slice(dot + 1) };
}

/**
 * The kernel's host name (procfs, i.e. the UTS namespace the agent runs in: the host's for a
 * service or a hostNetwork pod), else `etc/hostname` under the root.
 */
export function collectHost(root: HostRoot): HostFacts | undefined {
  return hostFactsFrom(root.readLine("proc/sys/kernel/hostname") ?? "") ?? hostFactsFrom(root.readLine("etc/hostname") ?? "");
}
