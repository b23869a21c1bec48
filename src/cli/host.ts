// `xen-guest-agent host …`: commands run in dom0 that ask a guest's agent for something.
import type { CommandDef } from "citty";
import { UsageError } from "../errors.ts";
import { hostFsfreezeDef, hostFsfreezeMain } from "./host-fsfreeze.ts";

const HOST_COMMANDS: Record<string, { def: CommandDef; main(raw: string[]): Promise<number> }> = {
  fsfreeze: { def: hostFsfreezeDef as CommandDef, main: hostFsfreezeMain },
};

export const hostDef = ({
  meta: { name: "host", description: "dom0: ask a guest's agent (fsfreeze)" },
  subCommands: Object.fromEntries(Object.entries(HOST_COMMANDS).map(([n, c]) => [n, c.def])),
}) satisfies CommandDef;

export async function hostMain(raw: string[]): Promise<number> {
  const [name, ...rest] = raw;
  const command = name === undefined ? undefined : HOST_COMMANDS[name];
  if (!command) throw new UsageError(`host needs a command (${Object.keys(HOST_COMMANDS).join(", ")})`);
  return command.main(rest);
}
