// `xen-guest-agent host …`: commands run in dom0 that ask a guest's agent for something.
import type { CommandDef } from "citty";
import { UsageError } from "../errors.ts";
import { HOST_HELP, hostRequestMain } from "./host-requests.ts";

const HOST_COMMANDS: Record<string, (raw: string[]) => Promise<number>> = {
  ping: (raw) => hostRequestMain("ping", raw),
  info: (raw) => hostRequestMain("info", raw),
  "static-ip": (raw) => hostRequestMain("static-ip", raw),
};

export const hostDef = ({
  meta: { name: "host", description: `dom0: ask a guest's agent (${Object.keys(HOST_COMMANDS).join(", ")}); 'host --help' explains` },
}) satisfies CommandDef;

/** The help text for `host --help` (citty's generated usage cannot say enough about the protocol). */
export const hostHelp = (): string => HOST_HELP;

export async function hostMain(raw: string[]): Promise<number> {
  const [name, ...rest] = raw;
  const command = name === undefined ? undefined : HOST_COMMANDS[name];
  if (!command) throw new UsageError(`host needs a command (${Object.keys(HOST_COMMANDS).join(", ")})`);
  return command(rest);
}
