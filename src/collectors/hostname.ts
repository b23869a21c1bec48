// The host name, which XAPI shows as the VM's host name (`data/host_name_dns` + `data/domain`).
import type { HostFacts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";
import type { Logger } from "../log/logger.ts";

/**
 * What is published: labels of letters, digits, `-` and `_`, at most 253 characters in all. The
 * DNS label limit (63) is not applied: Linux holds names of up to 64 characters (HOST_NAME_MAX),
 * so a 64-character single label is a real host name, and XAPI stores the value as given
 * (`netbios_name`), so leaving it out would only hide the VM's name.
 */
const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
const MAX_NAME = 253;
/** What the kernel and installers leave when no name was set: not this VM's name. */
const UNSET = new Set(["", "localhost", "localhost.localdomain", "(none)"]);

/** Splits a host name into its first label and the DNS domain, or says why it is not published. */
export function parseHostName(name: string): HostFacts | { unset: true } | { rejected: string } {
  const trimmed = name.trim().replace(/\.$/, "");
  if (UNSET.has(trimmed)) return { unset: true };
  if (trimmed.length > MAX_NAME) return { rejected: `is ${trimmed.length} characters long (at most ${MAX_NAME})` };
  const bad = trimmed.split(".").find((l) => !LABEL.test(l));
  if (bad !== undefined) {
    return { rejected: bad === "" ? "has an empty label" : `has a label (${JSON.stringify(bad.slice(0, 70))}) that is not letters, digits, '-' and '_'` };
  }
  const dot = trimmed.indexOf(".");
  return dot < 0
    ? { hostName: trimmed, domain: "" }
    : { hostName: trimmed.slice(0, dot), domain: trimmed.slice(dot + 1) };
}

/** The host facts of a name, or undefined when it is unset or not publishable. */
export function hostFactsFrom(name: string): HostFacts | undefined {
  const parsed = parseHostName(name);
  return "hostName" in parsed ? parsed : undefined;
}

/**
 * The host name read on every tick: the kernel's (procfs, i.e. the UTS namespace the agent runs
 * in: the host's for a service or a hostNetwork pod), else `etc/hostname` under the root, but only
 * when the kernel has none: a kernel name that cannot be published is not replaced by the file's,
 * which may be an older name (and would publish a stale domain). A name that is not published is
 * logged once, with why.
 */
export class HostNameCollector {
  private lastRejected: string | undefined;

  constructor(private readonly root: HostRoot, private readonly log?: Logger) {}

  collect(): HostFacts | undefined {
    let source = "proc/sys/kernel/hostname";
    let raw = this.root.readLine(source) ?? "";
    let parsed = parseHostName(raw);
    if ("unset" in parsed) {
      source = "etc/hostname";
      raw = this.root.readLine(source) ?? "";
      parsed = parseHostName(raw);
    }
    if ("rejected" in parsed) {
      const key = `${source}\0${raw}`;
      if (this.lastRejected !== key) {
        this.log?.warn(`host name ${JSON.stringify(raw.slice(0, 300))} (${source}) ${parsed.rejected}; the host name is not published`);
      }
      this.lastRejected = key;
      return undefined;
    }
    this.lastRejected = undefined;
    return "unset" in parsed ? undefined : parsed;
  }
}
