// The configuration file: TOML, read at start and on SIGHUP with Bun's runtime parser. Its keys are
// the long flag names of src/config/options.ts (`memory-interval = 30`); the command line overrides it.
//
//   default /etc/xen-guest-agent/config.toml: a missing file is fine (everything has a default);
//   --config <file>:                          a missing file is an error.
//
// Every problem is a UsageError naming the file, the key and its line, so `run` exits 2 at start
// and a SIGHUP reload logs it and keeps the configuration it had.
import { resolve } from "node:path";
import { HostFiles, SystemError } from "../../native/index.ts";
import { OPTIONS, resolveConfig, type ResolvedConfig } from "./options.ts";
import { UsageError } from "../errors.ts";
import { checkPolicyTable, resolvePolicy, type RequestPolicy } from "./request-policy.ts";

export const DEFAULT_CONFIG_FILE = "/etc/xen-guest-agent/config.toml";
/** Environment fallback for --config (tests, containers). */
export const CONFIG_FILE_ENV = "XEN_GUEST_AGENT_CONFIG";

/** The `--config` argument shared by the commands that read the configuration. */
export const CONFIG_ARG = {
  config: {
    type: "string" as const,
    valueHint: "file",
    description: `Configuration file, TOML with the long option names as keys (default: ${DEFAULT_CONFIG_FILE}, env ${CONFIG_FILE_ENV}; the command line wins)`,
  },
};

/** A file too big to be a configuration file is refused rather than parsed. */
const MAX_FILE_BYTES = 256 * 1024;

export interface ConfigFile {
  /** The path that was (or would have been) read. */
  path: string;
  /** Whether the path came from --config / the environment (then it must exist). */
  explicit: boolean;
  /** Whether the file exists and was read. */
  found: boolean;
  /** Values by key (`memory-interval`), checked against the option table. */
  values: Record<string, unknown>;
}

/** Which file to read: --config, else $XEN_GUEST_AGENT_CONFIG, else the default. */
export function configFilePath(cliValue: unknown, env: Record<string, string | undefined>): { path: string; explicit: boolean } {
  if (typeof cliValue === "string" && cliValue !== "") return { path: cliValue, explicit: true };
  const fromEnv = env[CONFIG_FILE_ENV];
  if (fromEnv) return { path: fromEnv, explicit: true };
  return { path: DEFAULT_CONFIG_FILE, explicit: false };
}

/** The 1-based line where `key` is assigned in TOML `text` (bare or quoted), or undefined. */
export function lineOfKey(text: string, key: string, occurrence = 1): number | undefined {
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`^\\s*(?:${esc}|"${esc}"|'${esc}')\\s*(?:=|\\.|$)|^\\s*\\[+\\s*(?:${esc}|"${esc}"|'${esc}')\\s*[\\].]`);
  let seen = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (re.test(lines[i] as string) && ++seen === occurrence) return i + 1;
  }
  return undefined;
}

/** The first line at which the text stops parsing (the shortest failing prefix), for parse errors. */
function lineOfSyntaxError(text: string): number | undefined {
  const lines = text.split("\n");
  for (let n = 1; n <= lines.length; n++) {
    try {
      Bun.TOML.parse(lines.slice(0, n).join("\n"));
    } catch {
      return n;
    }
  }
  return undefined;
}

function where(path: string, line: number | undefined): string {
  return line === undefined ? path : `${path} line ${line}`;
}

/** Parses and checks configuration text. Throws UsageError naming the key and line. */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  let parsed: Record<string, unknown>;
  try {
    parsed = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    const message = (e as Error).message.replace(/^TOML Parse error:\s*/, "");
    const redefined = /Cannot redefine key '([^']+)'/.exec(message)?.[1];
    const line = redefined ? (lineOfKey(text, redefined, 2) ?? lineOfKey(text, redefined)) : lineOfSyntaxError(text);
    throw new UsageError(`${where(path, line)}: not valid TOML: ${message}`);
  }
  const known = new Map(OPTIONS.map((o) => [o.flag, o]));
  for (const [key, value] of Object.entries(parsed)) {
    const line = lineOfKey(text, key);
    if (key === REQUESTS_TABLE) {
      const checked = checkPolicyTable(value);
      if (!checked.ok) throw new UsageError(`${where(path, checked.key ? (lineOfKey(text, checked.key) ?? line) : line)}: ${checked.error}`);
      continue;
    }
    const spec = known.get(key);
    if (!spec) {
      const hint = known.has(key.replace(/_/g, "-")) ? ` (did you mean '${key.replace(/_/g, "-")}'?)` : "";
      throw new UsageError(`${where(path, line)}: unknown key '${key}'${hint}; known keys: ${[...known.keys()].join(", ")}, [${REQUESTS_TABLE}]`);
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      throw new UsageError(`${where(path, line)}: key '${key}' must be a value, not a table`);
    }
    // Each value is checked on its own through the option table, so the message names its line.
    resolveConfig({ file: { [key]: value }, fileName: where(path, line) });
  }
  return parsed;
}

/** Reads the configuration file. Missing: fine for the default path, an error for an explicit one. */
export function readConfigFile(path: string, explicit: boolean): ConfigFile {
  // Read like a host file (non-blocking, regular files only, at most the cap): a FIFO or a device
  // given as --config must not hang or fill the agent.
  let read;
  try {
    read = new HostFiles("/").read(resolve(path), MAX_FILE_BYTES);
  } catch (e) {
    const code = e instanceof SystemError ? e.code : undefined;
    if (code === "ENOENT" && !explicit) return { path, explicit, found: false, values: {} };
    throw new UsageError(`cannot read configuration file ${path}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  if (read.truncated) throw new UsageError(`${path}: more than ${MAX_FILE_BYTES} bytes is too big for a configuration file`);
  return { path, explicit, found: true, values: parseConfigText(read.bytes.toString("utf8"), path) };
}

export interface LoadedConfig extends ResolvedConfig {
  file: ConfigFile;
}

/** The one table in the file: the host-request policy (src/config/request-policy.ts). */
export const REQUESTS_TABLE = "requests";

/** The host-request policy of a loaded configuration (its file's `[requests]` table, checked when read). */
export function requestPolicy(loaded: Pick<LoadedConfig, "file">): RequestPolicy {
  return resolvePolicy(loaded.file.values[REQUESTS_TABLE] as Record<string, boolean> | undefined);
}

/**
 * The effective configuration: default < env < file < command line. `cli` holds the flags given
 * (by flag name) and may hold `config`. Throws UsageError.
 */
export function loadConfig(cli: Record<string, unknown>, env: Record<string, string | undefined>): LoadedConfig {
  const { config: cliPath, ...flags } = cli;
  const { path, explicit } = configFilePath(cliPath, env);
  const file = readConfigFile(path, explicit);
  return { ...resolveConfig({ cli: flags, env, file: file.values, fileName: path }), file };
}
