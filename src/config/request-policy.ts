// The request policy: which host requests the agent carries out. Default deny: a request type is
// served only when its entry is true. It comes from the `[requests]` table of the configuration
// file (src/config/file.ts), e.g.
//
//   [requests]
//   static-ip = true     # XAPI VIF.configure_ipv4/ipv6 (on by default, as in every Windows agent)
//   ping = true          # liveness probe (read-only query: on by default)
//   info = true          # version and served request types (read-only query: on by default)
//   fsfreeze = false     # freeze filesystems for a consistent snapshot (off by default)
//
// A type whose entry is false is not advertised, and its requests are answered with a
// "disabled in configuration" error (never silently dropped). A new request type adds one row
// to REQUEST_POLICY; the file parser rejects names that are not in it.

export interface PolicyEntry {
  /** The key in `[requests]`, also the request type's name (`static-ip`). */
  key: string;
  default: boolean;
  description: string;
}

export const REQUEST_POLICY: readonly PolicyEntry[] = [
  { key: "static-ip", default: true,
    description: "Apply XAPI's static IP setting (VIF.configure_ipv4/ipv6) to the interface with the VIF's MAC" },
  { key: "ping", default: true, description: "Answer liveness probes from dom0 (read-only)" },
  { key: "info", default: true, description: "Tell dom0 the agent's version and the request types it serves (read-only)" },
  { key: "fsfreeze", default: false,
    description: "Freeze the local filesystems on dom0's request for a consistent snapshot, thawed after at most fsfreeze-timeout (needs CAP_SYS_ADMIN)" },
];

export type PolicyOrigin = "default" | "file";

export interface RequestPolicy {
  /** Whether requests of type `key` are carried out; unknown keys are denied. */
  allows(key: string): boolean;
  /** Every entry with its value and where it came from, in table order (`config`). */
  entries(): { key: string; allowed: boolean; origin: PolicyOrigin; description: string }[];
}

/** The policy for a checked `[requests]` table (undefined: no table, every default applies). */
export function resolvePolicy(table: Record<string, boolean> | undefined): RequestPolicy {
  const rows = REQUEST_POLICY.map((e) => {
    const given = table?.[e.key];
    return { key: e.key, allowed: given ?? e.default, origin: (given === undefined ? "default" : "file") as PolicyOrigin, description: e.description };
  });
  const byKey = new Map(rows.map((r) => [r.key, r.allowed]));
  return {
    allows: (key) => byKey.get(key) === true,
    entries: () => rows.map((r) => ({ ...r })),
  };
}

/**
 * Checks a parsed `[requests]` table. Returns the reason it is wrong, naming the key, or the
 * values. Only booleans are accepted: `static-ip = "yes"` is a mistake worth stopping for.
 */
export function checkPolicyTable(value: unknown): { ok: true; table: Record<string, boolean> } | { ok: false; key?: string; error: string } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: false, error: "'requests' must be a table ([requests])" };
  const known = new Set(REQUEST_POLICY.map((e) => e.key));
  const table: Record<string, boolean> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!known.has(key)) return { ok: false, key, error: `unknown request type '${key}' in [requests]; known: ${[...known].join(", ")}` };
    if (typeof v !== "boolean") return { ok: false, key, error: `[requests] ${key} must be true or false, got ${JSON.stringify(v)}` };
    table[key] = v;
  }
  return { ok: true, table };
}
