// `xen-guest-agent host ping|info|static-ip DOMID …`, run in dom0 (root; xenstored's socket or
// dom0's /dev/xen/xenbus, found like libxenstore does). Exit codes: 0 answered and succeeded;
// 1 no such domain, the agent does not serve the request, no answer within --timeout, or the
// guest answered with a failure (static-ip: error-code ≠ 0); 2 usage.
import { HostRoot } from "../collectors/host-root.ts";
import { EXIT_FAILURE, FatalError, UsageError } from "../errors.ts";
import { HostRequestError, resolveDomain } from "../host/domain.ts";
import { sendQuery } from "../host/query.ts";
import { sendStaticIp, type FamilySetting } from "../host/static-ip.ts";
import type { XenstoreClient } from "../xenstore/client.ts";
import { connectXenstore, findXenstore } from "../xenstore/connect.ts";

const DEFAULT_TIMEOUT_S = 10;

export const HOST_HELP = `xen-guest-agent host COMMAND DOMID-or-NAME [options]      (run in dom0, as root)

Ask the xen-guest-agent inside a guest to do something, through xenstore, the way the toolstack does.

  host ping DOMID [--json]
      Is the agent there and answering? Prints the round trip. dom0 writes control/ping/request
      ({"id":…}, dom0-owned n0,r<domid>), the agent answers data/ping/reply with the same id.
  host info DOMID [--json]
      The agent's version and the request types it serves (and those disabled in its [requests]).
  host static-ip DOMID --mac MAC (--address A/P [--gateway G] | --dhcp | --remove) [--ipv6] [--vif N] [--json]
      XAPI's VIF.configure_ipv4 / configure_ipv6, written exactly as xenopsd writes it under
      xenserver/device/vif/<N>/static-ip-setting/: --address sets a static address (CIDR), with an
      optional default route; --remove takes away what the agent configured (mode 0); --dhcp hands
      the interface back to the guest's DHCP / autoconfiguration (mode 2). --ipv6 for address6,
      gateway6, enabled6. --vif is the VIF's device id (default 0).

Options:  --timeout S  longest wait for the answer (default ${DEFAULT_TIMEOUT_S})   --json  machine-readable output

Exit codes: 0 answered and succeeded; 1 no such domain, not served, no answer in time, or the guest
reported a failure (static-ip error-code: 1 bad input, 2 unknown MAC, 3 kernel refused, 4 disabled in
the guest's configuration, 5 not written by dom0, 6 internal error); 2 usage.

Examples:
  xen-guest-agent host ping web1
  xen-guest-agent host static-ip 5 --mac 00:16:3e:12:34:56 --address 192.0.2.10/24 --gateway 192.0.2.1
  xen-guest-agent host static-ip 5 --mac 00:16:3e:12:34:56 --ipv6 --address 2001:db8::10/64
  xen-guest-agent host static-ip 5 --mac 00:16:3e:12:34:56 --dhcp`;

export interface HostArgs {
  command: "ping" | "info" | "static-ip";
  domain: string;
  json: boolean;
  timeoutS: number;
  mac?: string;
  vif: number;
  ipv6: boolean;
  setting?: FamilySetting;
}

export function parseHostArgs(command: HostArgs["command"], raw: string[]): HostArgs {
  const out: HostArgs = { command, domain: "", json: false, timeoutS: DEFAULT_TIMEOUT_S, vif: 0, ipv6: false };
  const positionals: string[] = [];
  let address: string | undefined;
  let gateway: string | undefined;
  let mode: "dhcp" | "remove" | undefined;
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : raw[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const staticOnly = () => {
      if (command !== "static-ip") throw new UsageError(`${flag} is only for host static-ip`);
    };
    if (flag === "--json") out.json = true;
    else if (flag === "--timeout") {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError("--timeout needs a whole number of seconds ≥ 1");
      out.timeoutS = Number(v);
    } else if (flag === "--mac") (staticOnly(), (out.mac = value()));
    else if (flag === "--address") (staticOnly(), (address = value()));
    else if (flag === "--gateway") (staticOnly(), (gateway = value()));
    else if (flag === "--vif") {
      staticOnly();
      const v = value();
      if (!/^\d{1,9}$/.test(v)) throw new UsageError("--vif needs a device id (0, 1, …)");
      out.vif = Number(v);
    } else if (flag === "--ipv6") (staticOnly(), (out.ipv6 = true));
    else if (flag === "--dhcp" || flag === "--remove") {
      staticOnly();
      if (mode) throw new UsageError("only one of --dhcp, --remove");
      mode = flag === "--dhcp" ? "dhcp" : "remove";
    } else if (a.startsWith("-")) throw new UsageError(`unknown option '${flag}' for host ${command}`);
    else positionals.push(a);
  }
  if (positionals.length !== 1) throw new UsageError(`host ${command} needs one DOMID or domain name`);
  out.domain = positionals[0]!;
  if (command === "static-ip") {
    if (!out.mac) throw new UsageError("host static-ip needs --mac (the VIF's MAC)");
    if (mode && (address || gateway)) throw new UsageError(`--${mode} takes no --address or --gateway`);
    if (!mode && !address) throw new UsageError("host static-ip needs --address A/P, --dhcp or --remove");
    if (gateway && !address) throw new UsageError("--gateway needs --address");
    out.setting = mode ? { mode: mode === "dhcp" ? "2" : "0" } : { mode: "1", address, gateway };
  }
  return out;
}

async function dom0Client(): Promise<XenstoreClient> {
  const location = findXenstore(new HostRoot("/"));
  if (!location) throw new FatalError("no xenstore here (no /run/xenstored/socket, no /dev/xen/xenbus): run this in dom0");
  try {
    return await connectXenstore(location, { timeoutMs: 10_000 });
  } catch (e) {
    throw new FatalError(`cannot open xenstore at ${location.path}: ${(e as Error).message} (root needed)`);
  }
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

export async function hostRequestMain(command: HostArgs["command"], raw: string[]): Promise<number> {
  const args = parseHostArgs(command, raw);
  const client = await dom0Client();
  try {
    const domid = await resolveDomain(client, args.domain);
    const timeoutMs = args.timeoutS * 1000;
    if (command === "ping" || command === "info") {
      const { reply, roundTripMs } = await sendQuery(client, domid, command, timeoutMs);
      const ms = Math.round(roundTripMs * 10) / 10;
      if (command === "ping") print(args.json, { domid, ...reply, roundTripMs: ms }, `domain ${domid}: xen-guest-agent ${String(reply.version)} answered in ${ms} ms`);
      else {
        const types = (reply.types as { name: string; served: boolean; feature?: string }[] | undefined) ?? [];
        const lines = types.map((t) => `  ${t.name.padEnd(10)} ${t.served ? `served (${t.feature ?? "not advertised"})` : "disabled in the guest's [requests]"}`);
        print(args.json, { domid, ...reply, roundTripMs: ms }, [`domain ${domid}: xen-guest-agent ${String(reply.version)}`, "request types:", ...lines].join("\n"));
      }
      return reply.ok ? 0 : EXIT_FAILURE;
    }
    const setting = { mac: args.mac!, ...(args.ipv6 ? { ipv6: args.setting } : { ipv4: args.setting }) };
    const answer = await sendStaticIp(client, domid, args.vif, setting, { timeoutMs });
    const ok = answer.errorCode === "0";
    const text = ok ? `domain ${domid} vif ${args.vif}: done${answer.errorMsg ? ` (${answer.errorMsg})` : ""}` : `domain ${domid} vif ${args.vif}: failed, error-code ${answer.errorCode}: ${answer.errorMsg}`;
    print(args.json, { domid, vif: args.vif, ok, errorCode: Number(answer.errorCode), errorMsg: answer.errorMsg, elapsedMs: Math.round(answer.elapsedMs) }, text);
    return ok ? 0 : EXIT_FAILURE;
  } catch (e) {
    if (e instanceof HostRequestError) throw new FatalError(e.message);
    throw e;
  } finally {
    client.close();
  }
}
