// `xen-guest-agent install` and `uninstall`: the binary installs itself, so a release download (or
// cloud-init) needs no script of its own. The work is in src/install/.
import type { CommandDef } from "citty";
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { FatalError, UsageError } from "../errors.ts";
import { install, uninstall, type Outcome } from "../install/installer.ts";
import { detectInit, INIT_SYSTEMS, type InitSystem } from "../install/service-managers.ts";
import { parseStrict } from "./args.ts";

const prefixArg = {
  type: "string",
  valueHint: "dir",
  description: "Install into this root (an image being built): files only, nothing is enabled or started (default: /)",
} as const;

const uninstallPrefixArg = {
  ...prefixArg,
  description: "Undo an install into this root: its files and the links that enabled the service there (default: /)",
} as const;

export const installDef = ({
  meta: { name: "install", description: "Install this binary as /usr/sbin/xen-guest-agent with its service, enable and start it (replaces xe-guest-utilities' service)" },
  args: {
    init: { type: "string", valueHint: INIT_SYSTEMS.join("|"), description: "Init system to install for (default: the running one, or the one found under --prefix)" },
    prefix: prefixArg,
    force: { type: "boolean", description: "Install on this machine although it is not a Xen guest (enabled, not started); not needed with --prefix" },
  },
}) satisfies CommandDef;

export const uninstallDef = ({
  meta: { name: "uninstall", description: "Undo `install`: stop and remove the service and binary, re-enable what install disabled" },
  args: { prefix: uninstallPrefixArg },
}) satisfies CommandDef;

function prefixFrom(value: unknown): string {
  const prefix = typeof value === "string" ? value : "/";
  if (!isAbsolute(prefix)) throw new UsageError(`--prefix must be an absolute path, got '${prefix}'`);
  if (!existsSync(prefix) || !statSync(prefix).isDirectory()) throw new UsageError(`--prefix ${prefix} is not a directory`);
  return resolve(prefix);
}

/** Why this machine is not a Xen guest, or undefined when it is one. */
function notXen(): string | undefined {
  if (existsSync("/dev/xen/xenbus") || existsSync("/proc/xen/xenbus")) return undefined;
  let type: string | undefined;
  try {
    type = readFileSync("/sys/hypervisor/type", "utf8").trim();
  } catch {
    type = undefined;
  }
  if (type === "xen") return undefined;
  return type ? `the hypervisor is '${type}' (/sys/hypervisor/type)` : "there is no /sys/hypervisor/type, /dev/xen/xenbus or /proc/xen/xenbus";
}

/** Prints what was done; `nothing` closes a run that changed nothing (empty: the lines already say so). */
function report(outcome: Outcome, nothing: string): void {
  for (const line of outcome.lines) process.stdout.write(`${line}\n`);
  if (!outcome.changed && nothing) process.stdout.write(`${nothing}\n`);
}

export async function installMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, installDef.args as never);
  const prefix = prefixFrom(values.prefix);
  if (values.init !== undefined && !INIT_SYSTEMS.includes(values.init as InitSystem))
    throw new UsageError(`--init '${String(values.init)}' is not one of ${INIT_SYSTEMS.join(", ")}`);
  // Under `bun src/main.ts`, process.execPath is bun itself, which is not the agent.
  if (!Bun.main.startsWith("/$bunfs/"))
    throw new FatalError("install copies the running executable, so it works only from the built binary (bun scripts/build.ts, then dist/xen-guest-agent install)");
  // Into an image (--prefix) the build host's hypervisor says nothing about where the image runs.
  const why = prefix === "/" ? notXen() : undefined;
  if (why && !values.force)
    throw new FatalError(`not installing: this machine is not a Xen guest (${why}), so the agent would have nothing to publish to; use --force to install anyway`);
  const init = (values.init as InitSystem | undefined) ?? detectInit(prefix, prefix === "/");
  if (!init) throw new UsageError(`cannot tell which init system ${prefix} uses; pass --init ${INIT_SYSTEMS.join("|")}`);
  const noStart = why ? `this machine is not a Xen guest (${why})` : undefined;
  report(install({ prefix, init, binary: process.execPath, noStart }), `already installed (${init}): nothing changed`);
  return 0;
}

export async function uninstallMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, uninstallDef.args as never);
  report(uninstall(prefixFrom(values.prefix)), "");
  return 0;
}
