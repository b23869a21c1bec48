// `xen-guest-agent host fsfreeze`, run in dom0:
//
//   host fsfreeze DOMID [--timeout S] [--mount M]… -- COMMAND [ARGS]   freeze, run COMMAND, thaw;
//                                                  exit with COMMAND's status
//   host fsfreeze DOMID --freeze [--timeout S] [--mount M]… | --thaw | --status [--json]
//
// Exit codes: COMMAND's status (0 included); 1 the guest does not serve fsfreeze, did not answer,
// or refused (COMMAND is not run when the freeze fails); 2 usage; 3 COMMAND succeeded but the
// guest had thawed itself before it ended (automatic thaw: the copy may not be consistent).
import type { CommandDef } from "citty";
import { HostRoot } from "../collectors/host-root.ts";
import { EXIT_FAILURE, FatalError, UsageError } from "../errors.ts";
import { HostRequestError, resolveDomain, type HostClient } from "../host/domain.ts";
import { sendFsfreeze } from "../host/fsfreeze.ts";
import type { FsfreezeReply, FsfreezeRequest } from "../requests/fsfreeze/protocol.ts";
import { connectXenstore, findXenstore } from "../xenstore/connect.ts";

export const EXIT_THAWED_EARLY = 3;
/** How long a reply may take: freeze hooks run first (each up to its limit in the guest). */
const DEFAULT_WAIT_S = 60;

export const hostFsfreezeDef = ({
  meta: { name: "fsfreeze", description: "dom0: freeze a guest's filesystems around COMMAND (host fsfreeze DOMID [options] -- COMMAND [ARGS])" },
  args: {
    timeout: { type: "string", valueHint: "seconds", description: "Automatic thaw after this long (the guest's limit caps it; default the guest's, 10 s)" },
    mount: { type: "string", valueHint: "path", description: "Freeze only this mount point (repeatable; default every local block filesystem)" },
    freeze: { type: "boolean", description: "Only freeze" },
    thaw: { type: "boolean", description: "Only thaw" },
    status: { type: "boolean", description: "Only print the state" },
    wait: { type: "string", valueHint: "seconds", description: `Longest wait for each answer (default ${DEFAULT_WAIT_S})` },
    json: { type: "boolean", description: "Print replies as JSON" },
  },
}) satisfies CommandDef;

interface HostFsfreezeArgs {
  domain: string;
  step?: "freeze" | "thaw" | "status";
  timeout?: number;
  mounts: string[];
  waitS: number;
  json: boolean;
  command: string[];
}

const seconds = (flag: string, v: string | undefined): number => {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${flag} needs a whole number of seconds ≥ 1`);
  return Number(v);
};

export function parseHostFsfreeze(raw: string[]): HostFsfreezeArgs {
  const out: HostFsfreezeArgs = { domain: "", mounts: [], waitS: DEFAULT_WAIT_S, json: false, command: [] };
  const positionals: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => inline ?? raw[++i];
    if (a === "--") {
      out.command = raw.slice(i + 1);
      break;
    } else if (flag === "--timeout") out.timeout = seconds("timeout", value());
    else if (flag === "--wait") out.waitS = seconds("wait", value());
    else if (flag === "--mount") {
      const m = value();
      if (!m?.startsWith("/")) throw new UsageError("--mount needs an absolute path");
      out.mounts.push(m);
    } else if (a === "--freeze" || a === "--thaw" || a === "--status") {
      if (out.step) throw new UsageError("only one of --freeze, --thaw, --status");
      out.step = a.slice(2) as HostFsfreezeArgs["step"];
    } else if (a === "--json") out.json = true;
    else if (a.startsWith("-")) throw new UsageError(`unknown option '${flag}'`);
    else positionals.push(a);
  }
  if (positionals.length !== 1) throw new UsageError("host fsfreeze needs one DOMID (or domain name)");
  out.domain = positionals[0]!;
  if (out.step && out.command.length) throw new UsageError(`--${out.step} takes no COMMAND`);
  if (!out.step && out.command.length === 0) throw new UsageError("give -- COMMAND [ARGS], or one of --freeze, --thaw, --status");
  if (out.step && out.step !== "freeze" && (out.timeout !== undefined || out.mounts.length)) throw new UsageError(`--${out.step} takes no --timeout or --mount`);
  return out;
}

function describe(r: FsfreezeReply): string {
  if (!r.ok) return `${r.op} failed: ${r.error}`;
  const skipped = r.skipped.length ? ` (skipped: ${r.skipped.join("; ")})` : "";
  if (r.state === "frozen") return `frozen: ${r.mounts.join(", ")}; automatic thaw after ${r.timeout} s${skipped}`;
  const last = r.freezeId ? `; the last freeze (${r.freezeId}) lasted ${r.frozenMs} ms, ended by ${r.thawedBy}` : "";
  return `thawed${last}`;
}

async function openDom0(): Promise<HostClient & { close(): void }> {
  const location = findXenstore(new HostRoot("/"));
  if (!location) throw new FatalError("no xenstore here (run this in dom0: /run/xenstored/socket or /dev/xen/xenbus)");
  try {
    return await connectXenstore(location, { timeoutMs: 10_000 });
  } catch (e) {
    throw new FatalError(`cannot open xenstore at ${location.path}: ${(e as Error).message}`);
  }
}

export async function hostFsfreezeMain(raw: string[]): Promise<number> {
  const args = parseHostFsfreeze(raw);
  const client = await openDom0();
  const say = (r: FsfreezeReply) => process.stdout.write(args.json ? `${JSON.stringify(r)}\n` : `domain ${args.domain}: ${describe(r)}\n`);
  const freezeRequest: Omit<FsfreezeRequest, "id"> = { op: "freeze", ...(args.timeout ? { timeout: args.timeout } : {}), ...(args.mounts.length ? { mounts: args.mounts } : {}) };
  try {
    const domid = await resolveDomain(client, args.domain);
    const send = (req: Omit<FsfreezeRequest, "id">) => sendFsfreeze(client, domid, req, args.waitS * 1000);
    if (args.step) {
      const reply = await send(args.step === "freeze" ? freezeRequest : { op: args.step });
      say(reply);
      return reply.ok ? 0 : EXIT_FAILURE;
    }
    const frozen = await send(freezeRequest);
    if (!frozen.ok) {
      say(frozen);
      process.stderr.write(`xen-guest-agent: not running ${args.command[0]}: the guest was not frozen\n`);
      return EXIT_FAILURE;
    }
    if (!args.json) say(frozen);
    const status = await runCommand(args.command);
    const thawed = await send({ op: "thaw" });
    if (args.json) process.stdout.write(`${JSON.stringify({ freeze: frozen, thaw: thawed, status })}\n`);
    else process.stdout.write(`domain ${args.domain}: frozen for ${thawed.frozenMs ?? "?"} ms while ${args.command[0]} ran (exit status ${status})\n`);
    if (!thawed.ok) process.stderr.write(`xen-guest-agent: thaw: ${thawed.error}\n`);
    if (thawed.freezeId === frozen.id && thawed.thawedBy !== "request") {
      process.stderr.write(`xen-guest-agent: the guest thawed itself (${thawed.thawedBy}) before ${args.command[0]} ended: what it copied may not be consistent (raise --timeout)\n`);
      return status === 0 ? EXIT_THAWED_EARLY : status;
    }
    return thawed.ok ? status : status || EXIT_FAILURE;
  } catch (e) {
    if (e instanceof HostRequestError) throw new FatalError(e.message);
    throw e;
  } finally {
    client.close();
  }
}

/** Runs COMMAND with our stdio; SIGINT/SIGTERM go to it, and the thaw still follows. */
async function runCommand(command: string[]): Promise<number> {
  let child: Bun.Subprocess;
  try {
    child = Bun.spawn(command, { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (e) {
    process.stderr.write(`xen-guest-agent: cannot run ${command[0]}: ${(e as Error).message}\n`);
    return 127;
  }
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const code = await child.exited;
    return child.signalCode ? 128 + (SIGNALS[child.signalCode] ?? 0) : code;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
