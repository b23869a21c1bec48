// The side effects of static IP: reading the interfaces, addresses and default routes, and
// changing them, through rtnetlink. Tests give the handler the same implementation opened in a
// network namespace; the planner (plan.ts) never sees any of this.
import { errnoName, openRtnetlinkRequester, type RtnetlinkRequester } from "../../../native/index.ts";
import { decodeChunk, encodeDumpRequest, NLMSG_DONE, NLMSG_ERROR, RTM_GETADDR, RTM_GETLINK } from "../../collectors/network/rtnetlink.ts";
import type { Action, NetState } from "./plan.ts";
import { AGENT_PROTO, decodeReplies, encodeAddress, encodeDefaultRoute, encodeRouteDump } from "./netlink-messages.ts";

export interface NetConfig {
  /** The current links, addresses and default routes, marked with what the agent configured. */
  state(): NetState;
  /** Carries out one action. Throws NetConfigError naming the action and the kernel's answer. */
  apply(action: Action): void;
}

export class NetConfigError extends Error {
  override name = "NetConfigError";
}

const ADDR_GONE = new Set(["EADDRNOTAVAIL", "ENOENT"]);
const ROUTE_GONE = new Set(["ESRCH", "ENOENT"]);

export function describeAction(a: Action): string {
  switch (a.op) {
    case "add-address":
      return `add ${a.address}/${a.prefixLength}`;
    case "del-address":
      return `remove ${a.address}/${a.prefixLength}`;
    case "replace-default-route":
      return `default route via ${a.gateway}`;
    case "del-default-route":
      return `remove default route via ${a.gateway ?? "(none)"}`;
  }
}

/**
 * rtnetlink on a socket opened for each use (`open` enters a namespace in tests). What the agent
 * added is marked (AGENT_PROTO); it is also remembered here, for kernels older than 5.18 that
 * drop the address mark.
 */
export class RtnetlinkNetConfig implements NetConfig {
  private readonly remembered = new Set<string>();
  private seq = 1;

  constructor(private readonly open: () => RtnetlinkRequester = openRtnetlinkRequester) {}

  private with<T>(fn: (r: RtnetlinkRequester) => T): T {
    const r = this.open();
    try {
      return fn(r);
    } finally {
      r.close();
    }
  }

  private dump(r: RtnetlinkRequester, message: Uint8Array, seq: number): Uint8Array[] {
    return r.request(message, (chunk) => decodeChunk(chunk).some((m) => m.header?.seq === seq && (m.header.type === NLMSG_DONE || m.header.type === NLMSG_ERROR)));
  }

  state(): NetState {
    return this.with((r) => {
      const links: NetState["links"] = [];
      const addresses: NetState["addresses"] = [];
      let seq = this.seq++;
      for (const m of this.dump(r, encodeDumpRequest(RTM_GETLINK, seq), seq).flatMap(decodeChunk)) {
        if (m.kind === "link" && m.link.op === "new") links.push({ ifindex: m.link.ifindex, name: m.link.name ?? `if${m.link.ifindex}`, mac: m.link.mac });
      }
      seq = this.seq++;
      for (const m of this.dump(r, encodeDumpRequest(RTM_GETADDR, seq), seq).flatMap(decodeChunk)) {
        if (m.kind !== "addr" || m.addr.op !== "new") continue;
        const a = m.addr;
        const ours = a.proto === AGENT_PROTO || this.remembered.has(`${a.ifindex} ${a.address}/${a.prefixLength}`);
        addresses.push({ ifindex: a.ifindex, family: a.family, address: a.address, prefixLength: a.prefixLength, ours });
      }
      const defaultRoutes: NetState["defaultRoutes"] = [];
      for (const family of ["ipv4", "ipv6"] as const) {
        seq = this.seq++;
        const chunks = r.request(encodeRouteDump(family, seq), (c) => decodeReplies([c], seq).done);
        for (const route of decodeReplies(chunks, seq).routes) {
          defaultRoutes.push({ ifindex: route.ifindex, family: route.family, gateway: route.gateway, ours: route.protocol === AGENT_PROTO });
        }
      }
      return { links, addresses, defaultRoutes };
    });
  }

  apply(action: Action): void {
    this.with((r) => {
      const seq = this.seq++;
      const message =
        action.op === "add-address" || action.op === "del-address"
          ? encodeAddress(action.op === "add-address" ? "new" : "del", action, seq)
          : encodeDefaultRoute(action.op === "replace-default-route" ? "replace" : "del", action, seq);
      const reply = decodeReplies(r.request(message, (c) => decodeReplies([c], seq).done), seq);
      const key = "address" in action ? `${action.ifindex} ${action.address}/${action.prefixLength}` : "";
      if (reply.errno) {
        const name = errnoName(reply.errno);
        // Already gone is what a removal wanted.
        if (action.op === "del-address" && ADDR_GONE.has(name)) return void this.remembered.delete(key);
        if (action.op === "del-default-route" && ROUTE_GONE.has(name)) return;
        throw new NetConfigError(`${describeAction(action)}: the kernel refused it (${name}${reply.errorMessage ? `: ${reply.errorMessage}` : ""})`);
      }
      if (action.op === "add-address") this.remembered.add(key);
      if (action.op === "del-address") this.remembered.delete(key);
    });
  }
}
