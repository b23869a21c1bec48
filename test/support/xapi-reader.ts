// What XAPI makes of a guest's tree, written from its parsing rules (xe-guest-utilities-and-xapi.md
// §5.2: xapi_guest_agent.ml and test_guest_agent.ml). Used as an oracle: the agent is right when
// XAPI recovers exactly the guest metrics we expect.

export interface GuestMetrics {
  pvDriversVersion: Record<string, number>;
  hasPvDrivers: boolean;
  osVersion: Record<string, string>;
  networks: Record<string, string>;
  hostName: string | undefined;
  other: Record<string, string>;
  canUseHotplugVif: "yes" | "no" | "unspecified";
  canUseHotplugVbd: "yes" | "no" | "unspecified";
}

const intOf = (s: string | undefined): number | undefined => (s !== undefined && /^-?\d+$/.test(s) ? Number(s) : undefined);

function tristate(v: string | undefined): "yes" | "no" | "unspecified" {
  return v === "1" ? "yes" : v === "0" ? "no" : "unspecified";
}

/** Children of `prefix` (one level), from a flat relative-path tree. */
function children(tree: ReadonlyMap<string, string>, prefix: string): string[] {
  const out = new Set<string>();
  for (const path of tree.keys()) {
    if (path.startsWith(`${prefix}/`)) out.add(path.slice(prefix.length + 1).split("/", 1)[0] as string);
  }
  return [...out];
}

/** The `networks` map: `<id>/ipv4/<n>`, `<id>/ipv6/<n>`, and `<id>/ip` = the lowest IPv4 index. */
function networks(tree: ReadonlyMap<string, string>, base: string, into: Record<string, string>): void {
  for (const id of children(tree, base)) {
    for (const family of ["ipv4", "ipv6"]) {
      const indices = children(tree, `${base}/${id}/${family}`);
      // Any non-integer index makes XAPI drop that list (logged as an error there).
      if (indices.some((i) => !/^\d+$/.test(i))) continue;
      const sorted = indices.map(Number).sort((a, b) => a - b);
      for (const n of sorted) {
        const value = tree.get(`${base}/${id}/${family}/${n}`);
        if (value !== undefined) into[`${id}/${family}/${n}`] = value;
      }
      if (family === "ipv4" && sorted.length > 0) {
        const first = tree.get(`${base}/${id}/ipv4/${sorted[0]}`);
        if (first !== undefined) into[`${id}/ip`] = first;
      }
    }
  }
}

export function readGuestMetrics(tree: ReadonlyMap<string, string>): GuestMetrics {
  const pv: Record<string, number> = {};
  const names: Record<string, string> = { MajorVersion: "major", MinorVersion: "minor", MicroVersion: "micro", BuildVersion: "build" };
  for (const [key, name] of Object.entries(names)) {
    const n = intOf(tree.get(`attr/PVAddons/${key}`));
    if (n !== undefined) pv[name] = n;
  }
  if (Object.keys(pv).length > 0 && pv.micro === undefined) pv.micro = -1;
  const osVersion: Record<string, string> = {};
  for (const [key, name] of [["os_name", "name"], ["os_uname", "uname"], ["os_distro", "distro"], ["os_majorver", "major"], ["os_minorver", "minor"]] as const) {
    const v = tree.get(`data/${key}`);
    if (v !== undefined) osVersion[name] = v;
  }
  const nets: Record<string, string> = {};
  networks(tree, "attr/vif", nets);
  networks(tree, "xenserver/attr/net-sriov-vf", nets);
  const dns = tree.get("data/host_name_dns");
  const domain = tree.get("data/domain");
  const other: Record<string, string> = {};
  for (const c of children(tree, "control")) {
    const v = tree.get(`control/${c}`);
    if (v !== undefined) other[c] = v;
  }
  return {
    pvDriversVersion: pv,
    hasPvDrivers: pv.major !== undefined && pv.minor !== undefined,
    osVersion,
    networks: nets,
    hostName: dns === undefined ? undefined : domain ? `${dns}.${domain}` : dns,
    other,
    canUseHotplugVif: tristate(tree.get("feature/hotplug/vif")),
    canUseHotplugVbd: tristate(tree.get("feature/hotplug/vbd")),
  };
}
