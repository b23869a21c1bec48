// What a static IP request does to the interface: a pure function of the request and the current
// state (links, addresses, default routes, which of them the agent configured), so every case is
// a table test. The caller applies the actions in order through NetConfig (net-config.ts).
//
// Rules:
// - the interface is the one whose MAC is the VIF's (SR-IOV VFs match the same way);
// - static: the address is added unless it is there already; addresses the agent configured
//   before on that interface and family go (replace, never pile up); the default route through
//   the gateway replaces the agent's previous one; no gateway: the agent's default route goes;
// - remove (0) and DHCP (2): only what the agent configured goes; what the guest's own network
//   configuration set up is left alone, and DHCP itself stays the guest's business.
import type { Family, FamilyRequest } from "./protocol.ts";

export interface LinkState {
  ifindex: number;
  name: string;
  mac: string | null;
}

export interface AddressState {
  ifindex: number;
  family: Family;
  address: string;
  prefixLength: number;
  /** Configured by this agent (marked with its address protocol, or remembered). */
  ours: boolean;
}

export interface RouteState {
  ifindex: number;
  family: Family;
  gateway: string | null;
  ours: boolean;
}

export interface NetState {
  links: LinkState[];
  addresses: AddressState[];
  /** Default routes (0.0.0.0/0, ::/0) of the main table. */
  defaultRoutes: RouteState[];
}

export type Action =
  | { op: "add-address"; ifindex: number; family: Family; address: string; prefixLength: number }
  | { op: "del-address"; ifindex: number; family: Family; address: string; prefixLength: number }
  | { op: "replace-default-route"; ifindex: number; family: Family; gateway: string }
  | { op: "del-default-route"; ifindex: number; family: Family; gateway: string | null };

export type Plan =
  | { ok: true; link: LinkState; actions: Action[]; summary: string }
  | { ok: false; reason: "not-found"; message: string };

export function planFamily(mac: string, request: FamilyRequest, state: NetState): Plan {
  const link = state.links.find((l) => l.mac?.toLowerCase() === mac.toLowerCase());
  if (!link) return { ok: false, reason: "not-found", message: `no interface with MAC ${mac} in this guest` };
  const family = request.family;
  const on = <T extends { ifindex: number; family: Family }>(xs: T[]) => xs.filter((x) => x.ifindex === link.ifindex && x.family === family);
  const ourAddresses = on(state.addresses).filter((a) => a.ours);
  const ourRoutes = on(state.defaultRoutes).filter((r) => r.ours);
  const actions: Action[] = [];
  const drop = (keep: (a: AddressState) => boolean, routes: RouteState[]) => {
    for (const r of routes) actions.push({ op: "del-default-route", ifindex: link.ifindex, family, gateway: r.gateway });
    for (const a of ourAddresses) if (!keep(a)) actions.push({ op: "del-address", ifindex: link.ifindex, family, address: a.address, prefixLength: a.prefixLength });
  };
  if (request.mode !== "static") {
    drop(() => false, ourRoutes);
    const what = actions.length ? `took away what the agent had configured on ${link.name}` : `nothing configured by the agent on ${link.name}`;
    return { ok: true, link, actions, summary: `${what}; ${request.mode === "dhcp" ? "addressing" : "the interface"} is left to the guest's own network configuration` };
  }
  const same = (a: AddressState) => a.address === request.address && a.prefixLength === request.prefixLength;
  const present = on(state.addresses).some(same);
  const routeThere = request.gateway !== undefined && on(state.defaultRoutes).some((r) => r.gateway === request.gateway);
  // Routes first: a route through an address that is about to go would be dropped by the kernel anyway.
  drop(same, ourRoutes.filter((r) => r.gateway !== request.gateway || request.gateway === undefined));
  if (!present) actions.push({ op: "add-address", ifindex: link.ifindex, family, address: request.address, prefixLength: request.prefixLength });
  if (request.gateway !== undefined && !routeThere) actions.push({ op: "replace-default-route", ifindex: link.ifindex, family, gateway: request.gateway });
  const summary = `${request.address}/${request.prefixLength}${request.gateway ? ` via ${request.gateway}` : ""} on ${link.name}${actions.length ? "" : " (already so)"}`;
  return { ok: true, link, actions, summary };
}

/** The state after `actions`, as the kernel would show it (for planning the second family, and tests). */
export function applied(state: NetState, actions: Action[]): NetState {
  let { addresses, defaultRoutes } = state;
  for (const a of actions) {
    if (a.op === "add-address") addresses = [...addresses, { ifindex: a.ifindex, family: a.family, address: a.address, prefixLength: a.prefixLength, ours: true }];
    if (a.op === "del-address") addresses = addresses.filter((x) => !(x.ifindex === a.ifindex && x.address === a.address && x.prefixLength === a.prefixLength));
    if (a.op === "replace-default-route") defaultRoutes = [...defaultRoutes.filter((r) => r.family !== a.family || !r.ours), { ifindex: a.ifindex, family: a.family, gateway: a.gateway, ours: true }];
    if (a.op === "del-default-route") defaultRoutes = defaultRoutes.filter((r) => !(r.ifindex === a.ifindex && r.family === a.family && r.gateway === a.gateway && r.ours));
  }
  return { links: state.links, addresses, defaultRoutes };
}
