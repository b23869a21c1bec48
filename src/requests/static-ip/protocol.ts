// XAPI's static IP setting (VIF.configure_ipv4 / VIF.configure_ipv6), as xenopsd writes it and the
// Windows agents answer it. Per VIF device id, under the guest's home:
//
//   xenserver/device/vif/<devid>/static-ip-setting/
//     mac        the VIF's MAC (the interface is found by it; SR-IOV VFs too)
//     enabled    IPv4 mode: 1 static (address a.b.c.d/len, optional gateway), 0 remove the static
//                setting, 2 DHCP (xen-api, June 2026)
//     address    gateway
//     enabled6   IPv6 mode, the same values (2: autoconfiguration / DHCPv6)
//     address6   gateway6
//     error-code error-msg   the guest's answer: 0 and "" on success
//
// The guest answers by writing error-code and error-msg, then removing enabled / enabled6 (the
// removal is what tells dom0 it is done). Both families of one VIF are answered together: one
// error-code, the messages joined.
//
// Who may write: xenopsd writes these nodes; whether they are dom0- or guest-owned depends on the
// toolstack (the guest must be able to remove `enabled`), so the owner may be dom0 or the guest
// itself, not another domain. A root process in the guest could write a request here and have the
// agent set an address: it could run `ip addr add` itself, so nothing is gained by forging one.
import type { XenstoreOps } from "../../xenstore/client.ts";
import { isXenstoreCode } from "../../xenstore/errors.ts";
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../../collectors/network/ip-text.ts";

export const VIF_DIR = "xenserver/device/vif";
export const FEATURE_KEY = "control/feature-static-ip-setting";
export const FEATURE_KEY_FALLBACK = "data/feature-static-ip-setting";
export const KEYS = ["mac", "enabled", "address", "gateway", "enabled6", "address6", "gateway6"] as const;

export const settingDir = (devid: number | string): string => `${VIF_DIR}/${devid}/static-ip-setting`;

export type Family = "ipv4" | "ipv6";

export type FamilyRequest =
  | { family: Family; mode: "static"; address: string; prefixLength: number; gateway: string | undefined }
  | { family: Family; mode: "remove" }
  | { family: Family; mode: "dhcp" };

export interface StaticIpRequest {
  devid: number;
  /** Lower case `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** IPv4 then IPv6, those whose `enabled`/`enabled6` is present. */
  families: FamilyRequest[];
}

export type RawSetting = Partial<Record<(typeof KEYS)[number], string>>;

/** Reads one VIF's setting (inside the channel's transaction). */
export async function readSetting(tx: XenstoreOps, devid: string): Promise<RawSetting> {
  const out: RawSetting = {};
  for (const key of KEYS) {
    try {
      out[key] = await tx.read(`${settingDir(devid)}/${key}`);
    } catch (e) {
      if (!isXenstoreCode(e, "ENOENT")) throw e;
    }
  }
  return out;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function prefixOf(text: string, max: number): number | undefined {
  return /^\d{1,3}$/.test(text) && Number(text) >= 1 && Number(text) <= max ? Number(text) : undefined;
}

/** The network (address with the host bits cleared) as bytes. */
export function networkOf(bytes: Uint8Array, prefixLength: number): Uint8Array {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefixLength - 8 * i));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function parseFamily(family: Family, mode: string, address: string | undefined, gateway: string | undefined): FamilyRequest | string {
  const v6 = family === "ipv6";
  const k = v6 ? { enabled: "enabled6", address: "address6", gateway: "gateway6" } : { enabled: "enabled", address: "address", gateway: "gateway" };
  if (mode === "0") return { family, mode: "remove" };
  if (mode === "2") return { family, mode: "dhcp" };
  if (mode !== "1") return `${k.enabled} = ${JSON.stringify(mode)}: not 0, 1 or 2`;
  if (!address) return `${k.enabled} = 1 but ${k.address} is missing`;
  const slash = address.indexOf("/");
  if (slash < 0) return `${k.address} ${JSON.stringify(address)}: no prefix length (want ${v6 ? "2001:db8::5/64" : "192.0.2.5/24"})`;
  const text = address.slice(0, slash);
  const bytes = v6 ? parseIpv6(text) : parseIpv4(text);
  if (!bytes) return `${k.address} ${JSON.stringify(address)}: ${JSON.stringify(text)} is not an ${v6 ? "IPv6" : "IPv4"} address`;
  const prefixLength = prefixOf(address.slice(slash + 1), v6 ? 128 : 32);
  if (prefixLength === undefined) return `${k.address} ${JSON.stringify(address)}: prefix length must be 1-${v6 ? 128 : 32}`;
  if (!v6 && (bytes[0] === 0 || bytes[0]! >= 224 || bytes[0] === 127)) return `${k.address} ${JSON.stringify(address)}: not a unicast host address`;
  if (v6 && (bytes[0] === 0xff || bytes.every((b, i) => b === (i === 15 ? 1 : 0)) || bytes.every((b) => b === 0))) return `${k.address} ${JSON.stringify(address)}: not a unicast host address`;
  let gw: string | undefined;
  if (gateway !== undefined && gateway !== "") {
    const g = v6 ? parseIpv6(gateway) : parseIpv4(gateway);
    if (!g) return `${k.gateway} ${JSON.stringify(gateway)}: not an ${v6 ? "IPv6" : "IPv4"} address`;
    const linkLocal = v6 && g[0] === 0xfe && (g[1]! & 0xc0) === 0x80;
    if (!linkLocal && !sameBytes(networkOf(g, prefixLength), networkOf(bytes, prefixLength))) {
      return `${k.gateway} ${gateway} is outside ${k.address} ${address}'s subnet`;
    }
    if (sameBytes(g, bytes)) return `${k.gateway} ${gateway} is the address itself`;
    gw = v6 ? formatIpv6(g) : formatIpv4(g);
  }
  // The kernel's spelling (RFC 5952 for IPv6), so the planner compares like with like.
  return { family, mode: "static", address: v6 ? formatIpv6(bytes) : formatIpv4(bytes), prefixLength, gateway: gw };
}

/** A VIF's setting checked whole; any bad field refuses the whole request (nothing is changed). */
export function parseSetting(devid: number, raw: RawSetting): { ok: true; request: StaticIpRequest } | { ok: false; error: string } {
  if (!raw.mac || !MAC.test(raw.mac)) return { ok: false, error: `mac ${JSON.stringify(raw.mac ?? "")}: not a MAC address (aa:bb:cc:dd:ee:ff)` };
  const families: FamilyRequest[] = [];
  for (const [family, mode, address, gateway] of [["ipv4", raw.enabled, raw.address, raw.gateway], ["ipv6", raw.enabled6, raw.address6, raw.gateway6]] as const) {
    if (mode === undefined) continue;
    const parsed = parseFamily(family, mode, address, gateway);
    if (typeof parsed === "string") return { ok: false, error: parsed };
    families.push(parsed);
  }
  return { ok: true, request: { devid, mac: raw.mac.toLowerCase(), families } };
}

export function describeFamily(f: FamilyRequest): string {
  if (f.mode === "static") return `${f.family} static ${f.address}/${f.prefixLength}${f.gateway ? ` via ${f.gateway}` : ""}`;
  return `${f.family} ${f.mode === "dhcp" ? (f.family === "ipv6" ? "autoconf" : "dhcp") : "remove"}`;
}
