// Collecting the facts that have no event source of their own, in one place for `run` and `collect`.
import type { Facts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";
import { AGENT_FACTS } from "../facts/version.ts";
import { collectHost } from "./hostname.ts";
import { collectMemory } from "./meminfo.ts";
import { collectOs } from "./os-release.ts";

/** Everything that is read from files: OS, memory, host name, and the agent itself. */
export function collectStaticFacts(root: HostRoot): Facts {
  const facts: Facts = { agent: AGENT_FACTS, os: collectOs(root) };
  const memory = collectMemory(root);
  if (memory) facts.memory = memory;
  const host = collectHost(root);
  if (host) facts.host = host;
  return facts;
}
