// The request types the agent knows, in the order they are watched and listed. Adding a type:
// one entry here, one row in REQUEST_POLICY (src/config/request-policy.ts); see types.ts for what a type provides.
import { AGENT_FACTS } from "../facts/version.ts";
import { queryType } from "./query.ts";
import type { RequestType } from "./types.ts";

export interface RegistryDeps {
  /** What the channel serves right now (for `info`), late-bound: the channel is built from this list. */
  describe(): { name: string; served: boolean; feature: string | undefined }[];
  /** Further types (static-ip with its network side, and later ones), in order. */
  extra?: readonly RequestType[];
}

export function requestTypes(deps: RegistryDeps): RequestType[] {
  return [
    ...(deps.extra ?? []),
    queryType("ping", () => ({ version: AGENT_FACTS.version })),
    queryType("info", () => ({ version: AGENT_FACTS.version, types: deps.describe() })),
  ];
}
