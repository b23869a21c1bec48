// The agent's options, declared once. The command line, environment fallbacks, the configuration
// file and `--help` are all generated from this table, so an option cannot exist in one place and
// be missing in another.
import { UsageError } from "../errors.ts";
import { LOG_LEVELS, type LogLevel } from "../log/logger.ts";

export { LOG_LEVELS, type LogLevel };

export interface AgentConfig {
  stderr: boolean;
  loglevel: LogLevel;
  schema: "std" | "rfc";
  publisher: "xenstore" | "console";
  root: string;
  memoryInterval: number;
  extended: boolean;
  include: string[];
  exclude: string[];
  linkLocal: boolean;
  coalesceMs: number;
  xenstoreTimeout: number;
  volumes: boolean;
  volumesInterval: number;
  vcpuHotplug: boolean;
  raiseFreezeTimeout: boolean;
}

type Kind = "boolean" | "string" | "enum" | "number" | "list";

export interface OptionSpec {
  key: keyof AgentConfig;
  /** Long flag without dashes; also the configuration-file key. */
  flag: string;
  alias?: string;
  kind: Kind;
  values?: readonly string[];
  default: AgentConfig[keyof AgentConfig];
  /** Environment variable used when the flag is not given. */
  env?: string;
  /** Placeholder shown in --help (`<seconds>`). */
  valueHint?: string;
  min?: number;
  max?: number;
  description: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: "stderr", flag: "stderr", alias: "s", kind: "boolean", default: false,
    description: "Log to stderr instead of syslog (the journal is detected by itself)" },
  { key: "loglevel", flag: "loglevel", alias: "l", kind: "enum", values: LOG_LEVELS, default: "info",
    valueHint: "<level>", description: `Log level: ${LOG_LEVELS.join(", ")}` },
  { key: "schema", flag: "schema", kind: "enum", values: ["std", "rfc"], default: "std", env: "XENSTORE_SCHEMA",
    valueHint: "std|rfc", description: "Xenstore layout: std (what XAPI and Xen Orchestra read) or rfc (structured)" },
  { key: "publisher", flag: "publisher", kind: "enum", values: ["xenstore", "console"], default: "xenstore",
    valueHint: "xenstore|console", description: "Write to xenstore, or print the changes to stdout (off Xen)" },
  { key: "root", flag: "root", kind: "string", default: "/", env: "XEN_GUEST_AGENT_ROOT", valueHint: "<dir>",
    description: "Read host paths (etc/os-release, proc/…, sys/…, the xenbus device) under this directory" },
  { key: "memoryInterval", flag: "memory-interval", kind: "number", default: 60, min: 1, max: 86400,
    valueHint: "<seconds>", description: "How often free memory is read (only changes are written)" },
  { key: "extended", flag: "extended", kind: "boolean", default: false,
    description: "std schema: also publish interface names, MACs and prefix lengths" },
  { key: "include", flag: "include", kind: "list", default: [], valueHint: "<globs>",
    description: "Only report interfaces matching these comma-separated globs (rfc schema)" },
  { key: "exclude", flag: "exclude", kind: "list", default: [], valueHint: "<globs>",
    description: "Never report interfaces matching these globs (added to lo, docker*, veth*, …)" },
  { key: "linkLocal", flag: "link-local", kind: "boolean", default: true,
    description: "Report link-local IPv6 addresses (fe80::/10)" },
  { key: "coalesceMs", flag: "coalesce-ms", kind: "number", default: 10, min: 0, max: 10000,
    valueHint: "<ms>", description: "A burst of network changes becomes one update once quiet this long (a storm still goes out every 250 ms)" },
  { key: "xenstoreTimeout", flag: "xenstore-timeout", kind: "number", default: 10, min: 1, max: 3600,
    valueHint: "<seconds>", description: "Give up on a xenstore request after this long" },
  { key: "volumes", flag: "volumes", kind: "boolean", default: true,
    description: "Report mounted block filesystems (data/volumes): size, free space, mount points, PV disk" },
  { key: "volumesInterval", flag: "volumes-interval", kind: "number", default: 60, min: 1, max: 86400,
    valueHint: "<seconds>", description: "How often free disk space is read (written only when it moved by 1 % of the size)" },
  { key: "vcpuHotplug", flag: "vcpu-hotplug", kind: "boolean", default: true,
    description: "Bring hot-added vCPUs online and advertise control/feature-vcpu-hotplug" },
  { key: "raiseFreezeTimeout", flag: "raise-freeze-timeout", kind: "boolean", default: true,
    description: "Raise /sys/power/pm_freeze_timeout from the kernel default 20000 to 300000 ms at start (migrating a loaded guest)" },
];

export type ConfigOrigin = "default" | "env" | "file" | "cli";

export interface ResolvedConfig {
  config: AgentConfig;
  origin: Record<keyof AgentConfig, ConfigOrigin>;
}

export interface ConfigSources {
  /** Parsed command-line values by flag name (`memory-interval`), only those given. */
  cli?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Configuration-file values by key (`memory-interval`). */
  file?: Record<string, unknown>;
  /** Names the file source in messages (`/etc/xen-guest-agent/config.toml`). */
  fileName?: string;
}

/** Merges default < env < file < cli. Throws UsageError naming the option and where it came from. */
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const config = {} as Record<string, unknown>;
  const origin = {} as Record<string, ConfigOrigin>;
  for (const spec of OPTIONS) {
    config[spec.key] = spec.default;
    origin[spec.key] = "default";
    const envValue = spec.env ? sources.env?.[spec.env] : undefined;
    if (envValue !== undefined && envValue !== "") {
      config[spec.key] = parseValue(spec, envValue, `environment variable ${spec.env}`);
      origin[spec.key] = "env";
    }
    const fileValue = sources.file?.[spec.flag];
    if (fileValue !== undefined) {
      config[spec.key] = parseValue(spec, fileValue, `key '${spec.flag}' in ${sources.fileName ?? "the configuration file"}`);
      origin[spec.key] = "file";
    }
    const cliValue = sources.cli?.[spec.flag];
    if (cliValue !== undefined) {
      config[spec.key] = parseValue(spec, cliValue, `option --${spec.flag}`);
      origin[spec.key] = "cli";
    }
  }
  return { config: config as unknown as AgentConfig, origin: origin as ResolvedConfig["origin"] };
}

function parseValue(spec: OptionSpec, raw: unknown, where: string): unknown {
  const bad = (why: string): never => {
    throw new UsageError(`${where}: ${why}`);
  };
  switch (spec.kind) {
    case "boolean":
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "1" || raw === "yes") return true;
      if (raw === "false" || raw === "0" || raw === "no") return false;
      return bad(`expected true or false, got '${String(raw)}'`);
    case "string":
      if (typeof raw !== "string" || raw === "") return bad("expected a non-empty text value");
      return raw;
    case "enum": {
      const s = String(raw);
      if (!spec.values?.includes(s)) return bad(`'${s}' is not one of ${spec.values?.join(", ")}`);
      return s;
    }
    case "number": {
      const n = typeof raw === "number" ? raw : /^\s*-?\d+(\.\d+)?\s*$/.test(String(raw)) ? Number(raw) : NaN;
      if (!Number.isFinite(n)) return bad(`expected a number, got '${String(raw)}'`);
      if (spec.min !== undefined && n < spec.min) return bad(`${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) return bad(`${n} is above the maximum ${spec.max}`);
      return n;
    }
    case "list": {
      const items = Array.isArray(raw) ? raw : String(raw).split(",");
      if (!items.every((x) => typeof x === "string")) return bad("expected a list of text values");
      return (items as string[]).map((x) => x.trim()).filter((x) => x !== "");
    }
  }
}
