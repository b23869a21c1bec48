// Collecting the facts that have no event source of their own, in one place for `run` and `collect`.
import type { Facts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";
import type { Logger } from "../log/logger.ts";
import { AGENT_FACTS } from "../facts/version.ts";
import { HostNameCollector } from "./hostname.ts";
import { MemoryCollector } from "./meminfo.ts";
import { collectOs } from "./os-release.ts";

/** The collectors read again on the memory timer: they remember what they logged and last read. */
export interface TimedCollectors {
  memory: MemoryCollector;
  host: HostNameCollector;
}

export function timedCollectors(root: HostRoot, log: Logger): TimedCollectors {
  return { memory: new MemoryCollector(root, log), host: new HostNameCollector(root, log) };
}

/** Everything that is read from files: OS, memory, host name, and the agent itself. */
export function collectStaticFacts(root: HostRoot, timed: TimedCollectors, log: Logger): Facts {
  const facts: Facts = { agent: AGENT_FACTS, os: collectOs(root, log) };
  const memory = timed.memory.collect();
  if (memory) facts.memory = memory;
  const host = timed.host.collect();
  if (host) facts.host = host;
  return facts;
}
