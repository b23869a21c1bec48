// `xen-guest-agent config`: print the effective configuration and where each value came from, as
// TOML that can be pasted into the configuration file (or as JSON with --json).
import type { CommandDef } from "citty";
import { OPTIONS, type ConfigOrigin, type OptionSpec } from "../config/options.ts";
import { CONFIG_ARG, loadConfig, requestPolicy, REQUESTS_TABLE, type LoadedConfig } from "../config/file.ts";
import { AGENT_ARGS, parseStrict } from "./args.ts";

export const configDef = ({
  meta: { name: "config", description: "Print the effective configuration, with where each value came from (default, env, file, cli)" },
  args: {
    json: { type: "boolean", description: "Print it as JSON" },
    ...CONFIG_ARG,
    ...AGENT_ARGS,
  },
}) satisfies CommandDef;

/** A TOML value: strings quoted with JSON escapes (valid TOML basic strings), arrays of those. */
export function tomlValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

function originText(spec: OptionSpec, origin: ConfigOrigin, loaded: LoadedConfig): string {
  switch (origin) {
    case "env":
      return `env ${spec.env}`;
    case "file":
      return `file ${loaded.file.path}`;
    case "cli":
      return `cli --${spec.flag}`;
    default:
      return "default";
  }
}

export function renderToml(loaded: LoadedConfig): string {
  const file = loaded.file;
  const lines = [
    "# xen-guest-agent effective configuration",
    `# configuration file: ${file.path}${file.found ? "" : " (not found; defaults apply)"}`,
  ];
  const rows = OPTIONS.map((spec) => [`${spec.flag} = ${tomlValue(loaded.config[spec.key])}`, originText(spec, loaded.origin[spec.key], loaded)] as const);
  const width = Math.max(...rows.map(([a]) => a.length));
  for (const [assignment, origin] of rows) lines.push(`${assignment.padEnd(width)}  # ${origin}`);
  // The host-request policy (default deny): each request type, on or off, and where that came from.
  lines.push("", `[${REQUESTS_TABLE}]`);
  const policy = requestPolicy(loaded).entries().map((e) => [`${e.key} = ${e.allowed}`, e.origin === "file" ? `file ${file.path}` : "default"] as const);
  const policyWidth = Math.max(...policy.map(([a]) => a.length));
  for (const [assignment, origin] of policy) lines.push(`${assignment.padEnd(policyWidth)}  # ${origin}`);
  return `${lines.join("\n")}\n`;
}

export function renderJson(loaded: LoadedConfig): string {
  const options = Object.fromEntries(
    OPTIONS.map((spec) => [spec.flag, { value: loaded.config[spec.key], origin: loaded.origin[spec.key], ...(spec.env ? { env: spec.env } : {}) }]),
  );
  const requests = Object.fromEntries(requestPolicy(loaded).entries().map((e) => [e.key, { value: e.allowed, origin: e.origin }]));
  return `${JSON.stringify({ file: { path: loaded.file.path, found: loaded.file.found, explicit: loaded.file.explicit }, options, requests }, null, 2)}\n`;
}

export async function configMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, configDef.args as never);
  const { json, ...cli } = values;
  const loaded = loadConfig(cli, process.env);
  process.stdout.write(json ? renderJson(loaded) : renderToml(loaded));
  return 0;
}
