// Fact builders shared by schema, publisher and end-to-end tests.
import type { Facts, NetAddress, NetInterface } from "../../src/facts/facts.ts";
import type { ReportedInterface } from "../../src/schema/interfaces.ts";

export function v4(address: string, prefixLength = 24, extra: Partial<NetAddress> = {}): NetAddress {
  return { family: "ipv4", address, prefixLength, scope: "global", temporary: false, deprecated: false, tentative: false, dadfailed: false, ...extra };
}

export function v6(address: string, prefixLength = 64, extra: Partial<NetAddress> = {}): NetAddress {
  const scope = address.startsWith("fe80:") ? "link" : "global";
  return { family: "ipv6", address, prefixLength, scope, temporary: false, deprecated: false, tentative: false, dadfailed: false, ...extra };
}

export function vif(id: number, name: string, addresses: NetAddress[], mac = `00:16:3e:00:00:0${id}`): ReportedInterface {
  return { ifindex: id + 2, name, mac, operstate: "up", toolstack: { kind: "vif", id }, addresses };
}

export function netInterface(r: ReportedInterface, master: number | null = null): NetInterface {
  return { ifindex: r.ifindex, name: r.name, mac: r.mac, master, operstate: r.operstate, toolstack: r.toolstack, addresses: r.addresses };
}

export const BASE_FACTS: Facts = {
  agent: { version: "1.2.3", build: 42 },
  os: { id: "ubuntu", name: "Ubuntu", prettyName: "Ubuntu 22.04.4 LTS", versionId: "22.04", kernelRelease: "5.15.0-100-generic" },
  memory: { totalKiB: 4028380, freeKiB: 3501224 },
  host: { hostName: "web1", domain: "example.org" },
};
