// The agent's own version, baked in at build time: package.json is bundled into the binary, and
// scripts/build.ts defines __BUILD_NUMBER__ (the commit count of the source tree).
import pkg from "../../package.json" with { type: "json" };
import type { AgentFacts } from "./facts.ts";

declare const __BUILD_NUMBER__: number | undefined;

export const AGENT_FACTS: AgentFacts = {
  version: pkg.version,
  build: typeof __BUILD_NUMBER__ === "number" ? __BUILD_NUMBER__ : 0,
};
