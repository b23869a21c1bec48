#!/usr/bin/env bun
// Entry point: the only place that reads argv and calls process.exit. Exit codes:
//   0 done; 1 the agent cannot work here (not a Xen guest, xenstore unavailable); 2 usage or
//   configuration error; 70 an internal error (a bug: please report it with the message).
import type { CommandDef } from "citty";
import { EXIT_USAGE, FatalError, UsageError } from "./errors.ts";
import { collectDef, collectMain } from "./cli/collect.ts";
import { installDef, installMain, uninstallDef, uninstallMain } from "./cli/install.ts";
import { configDef, configMain } from "./cli/config.ts";
import { runDef, runMain } from "./cli/run.ts";
import { hasOwnHelp, hostDef, hostHelp, hostMain } from "./cli/host.ts";
import { AGENT_FACTS } from "./facts/version.ts";
import { fatalLine } from "./log/sinks.ts";

interface Command {
  def: CommandDef;
  main(rawArgs: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  run: { def: runDef as CommandDef, main: runMain },
  collect: { def: collectDef as CommandDef, main: collectMain },
  install: { def: installDef as CommandDef, main: installMain },
  uninstall: { def: uninstallDef as CommandDef, main: uninstallMain },
  config: { def: configDef as CommandDef, main: configMain },
  host: { def: hostDef as CommandDef, main: hostMain },
};

const EXIT_INTERNAL = 70;

const rootDef: CommandDef = {
  meta: { name: "xen-guest-agent", version: AGENT_FACTS.version, description: "Publishes this Xen guest's facts to xenstore for dom0 (XAPI, Xen Orchestra, xl)" },
  subCommands: Object.fromEntries(Object.entries(COMMANDS).map(([name, c]) => [name, c.def])),
};

const EPILOGUE = `
With no command, \`run\` is assumed: \`xen-guest-agent -s\` is \`xen-guest-agent run -s\`.

Examples:
  xen-guest-agent -s                          run in the foreground, logging to stderr
  xen-guest-agent --publisher console -s      off Xen: print what would be published, then every change
  xen-guest-agent collect --json              print every fact and key once
  xen-guest-agent --root /host                in a container: read the host's /etc, /proc and /sys under /host

In dom0: \`xen-guest-agent host ping|info|static-ip DOMID …\` asks a guest's agent (see host --help).

Exit codes: 0 success; 1 cannot work here (not a Xen guest, no xenstore); 2 bad option or configuration;
70 internal error.`;

/** The command named first on the line (flags of `run` may come before nothing else), and its arguments. */
function pickCommand(rawArgs: string[]): [Command, string[]] {
  const first = rawArgs.find((a) => !a.startsWith("-"));
  if (first !== undefined && rawArgs[0] === first) {
    const command = COMMANDS[first];
    if (!command) throw new UsageError(`unknown command '${first}' (commands: ${Object.keys(COMMANDS).join(", ")})`);
    return [command, rawArgs.slice(1)];
  }
  return [COMMANDS.run as Command, rawArgs];
}

async function usage(rawArgs: string[]): Promise<string> {
  const { renderUsage } = await import("citty"); // only for --help: the daemon never loads it
  const named = rawArgs.find((a) => !a.startsWith("-") && a in COMMANDS);
  const text = named
    ? await renderUsage((COMMANDS[named] as Command).def, rootDef)
    : `${await renderUsage(rootDef)}\n${await renderUsage(runDef as CommandDef, rootDef)}\n${EPILOGUE}`;
  // citty colours unconditionally; a pipe or NO_COLOR gets plain text.
  return process.stdout.isTTY && !process.env.NO_COLOR ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}

async function main(rawArgs: string[]): Promise<number> {
  // What follows `--` is someone else's command line (`host fsfreeze 5 -- cp --help`).
  const ours = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
  const help = ours.includes("--help") || ours.includes("-h");
  if (help && ours[0] === "host" && !hasOwnHelp(ours[1])) {
    process.stdout.write(`${hostHelp()}\n`);
    return 0;
  }
  if (help) {
    process.stdout.write(`${await usage(rawArgs)}\n`);
    return 0;
  }
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-V")) {
    process.stdout.write(`${AGENT_FACTS.version}\n`); // bare, for scripts
    return 0;
  }
  if (rawArgs.length === 2 && ["--version", "-V"].includes(rawArgs[0] as string) && rawArgs[1] === "--verbose") {
    process.stdout.write(`xen-guest-agent ${AGENT_FACTS.version} (build ${AGENT_FACTS.build}, Bun ${Bun.version}, ${process.platform}-${process.arch})\n`);
    return 0;
  }
  const [command, args] = pickCommand(rawArgs);
  return command.main(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(fatalLine(`${e.message} (see --help)`));
      process.exit(EXIT_USAGE);
    }
    if (e instanceof FatalError) {
      process.stderr.write(fatalLine(e.message));
      process.exit(e.exitCode);
    }
    process.stderr.write(fatalLine(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
    process.exit(EXIT_INTERNAL);
  },
);
