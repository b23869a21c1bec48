// Command-line arguments: citty definitions generated from the option table, strict checking
// (citty accepts unknown flags silently), and the given values by flag name.
// Only citty's types are imported here: parsing is ours (strict, and without loading citty and
// node:util into the daemon for its whole life); citty renders --help, loaded only then.
import type { ArgsDef } from "citty";
import { OPTIONS, type OptionSpec } from "../config/options.ts";
import { UsageError } from "../errors.ts";

function describe(spec: OptionSpec): string {
  const shown = Array.isArray(spec.default) ? (spec.default.length ? spec.default.join(",") : "none") : String(spec.default);
  const env = spec.env ? `, env ${spec.env}` : "";
  return `${spec.description} (default: ${shown}${env})`;
}

/** citty argument definitions for the given options (no defaults: a flag given is a flag seen). */
export function argsFor(specs: readonly OptionSpec[]): ArgsDef {
  const def: ArgsDef = {};
  for (const spec of specs) {
    def[spec.flag] = {
      type: spec.kind === "boolean" ? "boolean" : "string",
      description: describe(spec),
      ...(spec.alias ? { alias: spec.alias } : {}),
      ...(spec.valueHint ? { valueHint: spec.valueHint.replace(/^<|>$/g, "") } : {}),
      // Shows the --no-… form in --help for options that are on by default.
      ...(spec.kind === "boolean" && spec.default === true ? { negativeDescription: `Turn off: ${spec.description.toLowerCase()}` } : {}),
    };
  }
  return def;
}

export const AGENT_ARGS = argsFor(OPTIONS);

/**
 * Checks every flag against the definitions and returns the values given, by flag name: `--flag`
 * and `--no-flag` for booleans (`--flag=false` too), `--name value` or `--name=value` otherwise;
 * a repeated flag keeps its last value. Throws UsageError for an unknown flag, a missing value or
 * a stray argument.
 */
export function parseStrict(rawArgs: string[], def: ArgsDef, extraPositionals = 0): { values: Record<string, unknown>; positionals: string[] } {
  const names = new Map<string, string>(); // flag or alias → flag
  for (const [name, d] of Object.entries(def)) {
    names.set(name, name);
    const aliases = "alias" in d ? d.alias : undefined;
    for (const a of Array.isArray(aliases) ? aliases : aliases ? [aliases] : []) names.set(a, name);
  }
  const isBoolean = (flag: string) => def[flag]?.type === "boolean";
  const positionals: string[] = [];
  const values: Record<string, unknown> = {};
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--") {
      positionals.push(...rawArgs.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const [name, inline] = body.includes("=") ? [body.slice(0, body.indexOf("=")), body.slice(body.indexOf("=") + 1)] : [body, undefined];
    let flag = names.get(name);
    let negated = false;
    if (!flag && name.startsWith("no-") && isBoolean(names.get(name.slice(3)) ?? "")) {
      flag = names.get(name.slice(3));
      negated = true;
    }
    if (!flag) throw new UsageError(`unknown option '${arg.split("=")[0]}'`);
    if (isBoolean(flag)) {
      // `--flag=false` is passed on as text: resolveConfig names the option if it is not a boolean.
      values[flag] = negated ? false : (inline ?? true);
    } else if (inline !== undefined) {
      values[flag] = inline;
    } else {
      const next = rawArgs[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) throw new UsageError(`option --${flag} needs a value`);
      values[flag] = next;
      i++;
    }
  }
  if (positionals.length > extraPositionals) throw new UsageError(`unexpected argument '${positionals[extraPositionals]}'`);
  return { values, positionals };
}
