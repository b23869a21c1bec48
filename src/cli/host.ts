// `xen-guest-agent host …`: commands run in dom0 that ask a guest's agent for something.
import type { CommandDef } from "citty";
import { UsageError } from "../errors.ts";
import { hostFsfreezeDef, hostFsfreezeMain } from "./host-fsfreeze.ts";
import { HOST_HELP, hostRequestMain } from "./host-requests.ts";

interface HostCommand {
  /** citty definition for `host <name> --help`; the request queries are explained by HOST_HELP. */
  def?: CommandDef;
  main(raw: string[]): Promise<number>;
}

const HOST_COMMANDS: Record<string, HostCommand> = {
  ping: { main: (raw) => hostRequestMain("ping", raw) },
  info: { main: (raw) => hostRequestMain("info", raw) },
  "static-ip": { main: (raw) => hostRequestMain("static-ip", raw) },
  fsfreeze: { def: hostFsfreezeDef as CommandDef, main: hostFsfreezeMain },
};

export const hostDef = ({
  meta: { name: "host", description: `dom0: ask a guest's agent (${Object.keys(HOST_COMMANDS).join(", ")}); 'host --help' explains` },
  subCommands: Object.fromEntries(Object.entries(HOST_COMMANDS).flatMap(([n, c]) => (c.def ? [[n, c.def]] : []))),
}) satisfies CommandDef;

/** Whether `host <name> --help` has a citty definition of its own (else `host --help` explains it). */
export function hasOwnHelp(name: string | undefined): boolean {
  return name !== undefined && HOST_COMMANDS[name]?.def !== undefined;
}

/** The help text for `host --help` (citty's generated usage cannot say enough about the protocol). */
export const hostHelp = (): string =>
  HOST_HELP.replace("\n\nOptions:", "\n  host fsfreeze DOMID [--timeout S] [--mount M]… -- COMMAND [ARGS]   (and --freeze|--thaw|--status)\n      Freeze the guest's filesystems around COMMAND (a snapshot); see host fsfreeze --help.\n\nOptions:");

export async function hostMain(raw: string[]): Promise<number> {
  const [name, ...rest] = raw;
  const command = name === undefined ? undefined : HOST_COMMANDS[name];
  if (!command) throw new UsageError(`host needs a command (${Object.keys(HOST_COMMANDS).join(", ")})`);
  return command.main(rest);
}
