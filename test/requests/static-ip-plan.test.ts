// The static-ip handler's pure parts: parsing what xenopsd writes (every enabled/enabled6 value,
// bad input) and the plan against a given state (replace, idempotence, taking away only our own).
import { describe, expect, test } from "bun:test";
import { parseSetting, type RawSetting } from "../../src/requests/static-ip/protocol.ts";
import { applied, planFamily, type NetState } from "../../src/requests/static-ip/plan.ts";
import { inverse } from "../../src/requests/static-ip/handler.ts";

const MAC = "00:16:3e:00:00:01";

describe("parseSetting", () => {
  const ok: [string, RawSetting, unknown][] = [
    ["ipv4 static with gateway", { mac: MAC, enabled: "1", address: "192.0.2.5/24", gateway: "192.0.2.1" }, [{ family: "ipv4", mode: "static", address: "192.0.2.5", prefixLength: 24, gateway: "192.0.2.1" }]],
    ["ipv4 static, empty gateway", { mac: MAC, enabled: "1", address: "192.0.2.5/32", gateway: "" }, [{ family: "ipv4", mode: "static", address: "192.0.2.5", prefixLength: 32, gateway: undefined }]],
    ["ipv4 remove (0)", { mac: MAC, enabled: "0" }, [{ family: "ipv4", mode: "remove" }]],
    ["ipv4 DHCP (2)", { mac: MAC, enabled: "2" }, [{ family: "ipv4", mode: "dhcp" }]],
    ["ipv6 static, spelled as the kernel does", { mac: MAC.toUpperCase(), enabled6: "1", address6: "2001:DB8:0:0::05/64", gateway6: "fe80::1" }, [{ family: "ipv6", mode: "static", address: "2001:db8::5", prefixLength: 64, gateway: "fe80::1" }]],
    ["ipv6 autoconf (2)", { mac: MAC, enabled6: "2" }, [{ family: "ipv6", mode: "dhcp" }]],
    ["both families", { mac: MAC, enabled: "0", enabled6: "0" }, [{ family: "ipv4", mode: "remove" }, { family: "ipv6", mode: "remove" }]],
  ];
  test.each(ok)("%s", (_n, raw, families) => {
    const r = parseSetting(0, raw);
    expect(r).toEqual({ ok: true, request: { devid: 0, mac: MAC, families } as never });
  });

  const bad: [string, RawSetting, string][] = [
    ["no mac", { enabled: "1", address: "192.0.2.5/24" }, "not a MAC"],
    ["bad mode", { mac: MAC, enabled: "3" }, "not 0, 1 or 2"],
    ["no address", { mac: MAC, enabled: "1" }, "address is missing"],
    ["no prefix", { mac: MAC, enabled: "1", address: "192.0.2.5" }, "no prefix length"],
    ["octet > 255", { mac: MAC, enabled: "1", address: "192.0.2.256/24" }, "not an IPv4 address"],
    ["prefix 33", { mac: MAC, enabled: "1", address: "192.0.2.5/33" }, "prefix length must be 1-32"],
    ["prefix 0", { mac: MAC, enabled: "1", address: "192.0.2.5/0" }, "prefix length"],
    ["multicast", { mac: MAC, enabled: "1", address: "224.0.0.5/24" }, "not a unicast"],
    ["gateway outside", { mac: MAC, enabled: "1", address: "192.0.2.5/24", gateway: "192.0.3.1" }, "outside"],
    ["gateway is the address", { mac: MAC, enabled: "1", address: "192.0.2.5/24", gateway: "192.0.2.5" }, "the address itself"],
    ["bad ipv6", { mac: MAC, enabled6: "1", address6: "2001:db8:::5/64" }, "not an IPv6 address"],
    ["ipv6 gateway outside", { mac: MAC, enabled6: "1", address6: "2001:db8::5/64", gateway6: "2001:db9::1" }, "outside"],
    ["one bad family refuses both", { mac: MAC, enabled: "1", address: "192.0.2.5/24", enabled6: "9" }, "enabled6"],
  ];
  test.each(bad)("%s", (_n, raw, text) => {
    const r = parseSetting(0, raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(text);
  });
});

describe("planFamily", () => {
  const base: NetState = {
    links: [{ ifindex: 2, name: "eth0", mac: MAC }],
    addresses: [
      { ifindex: 2, family: "ipv4", address: "198.51.100.5", prefixLength: 24, ours: false },
      { ifindex: 2, family: "ipv4", address: "192.0.2.9", prefixLength: 24, ours: true },
    ],
    defaultRoutes: [{ ifindex: 2, family: "ipv4", gateway: "192.0.2.254", ours: true }],
  };
  const st = (address: string, gateway?: string) => ({ family: "ipv4" as const, mode: "static" as const, address, prefixLength: 24, gateway });

  test("unknown MAC: not-found, no actions", () => {
    expect(planFamily("00:16:3e:ff:ff:ff", st("192.0.2.5"), base)).toMatchObject({ ok: false, reason: "not-found" });
  });
  test("static replaces the agent's previous address and route, keeps the guest's own", () => {
    const p = planFamily(MAC, st("192.0.2.5", "192.0.2.1"), base);
    expect(p.ok && p.actions).toEqual([
      { op: "del-default-route", ifindex: 2, family: "ipv4", gateway: "192.0.2.254" },
      { op: "del-address", ifindex: 2, family: "ipv4", address: "192.0.2.9", prefixLength: 24 },
      { op: "add-address", ifindex: 2, family: "ipv4", address: "192.0.2.5", prefixLength: 24 },
      { op: "replace-default-route", ifindex: 2, family: "ipv4", gateway: "192.0.2.1" },
    ]);
  });
  test("the same request on the resulting state: nothing to do (idempotent)", () => {
    const first = planFamily(MAC, st("192.0.2.5", "192.0.2.1"), base);
    if (!first.ok) throw new Error("plan failed");
    const again = planFamily(MAC, st("192.0.2.5", "192.0.2.1"), applied(base, first.actions));
    expect(again.ok && again.actions).toEqual([]);
    expect(again.ok && again.summary).toContain("already so");
  });
  test("static without a gateway drops the agent's default route", () => {
    const p = planFamily(MAC, st("192.0.2.9"), base);
    expect(p.ok && p.actions).toEqual([{ op: "del-default-route", ifindex: 2, family: "ipv4", gateway: "192.0.2.254" }]);
  });
  test.each(["remove", "dhcp"] as const)("%s takes away only what the agent configured", (mode) => {
    const p = planFamily(MAC, { family: "ipv4", mode }, base);
    expect(p.ok && p.actions).toEqual([
      { op: "del-default-route", ifindex: 2, family: "ipv4", gateway: "192.0.2.254" },
      { op: "del-address", ifindex: 2, family: "ipv4", address: "192.0.2.9", prefixLength: 24 },
    ]);
  });
  test("ipv6 requests leave ipv4 alone", () => {
    const p = planFamily(MAC, { family: "ipv6", mode: "remove" }, base);
    expect(p.ok && p.actions).toEqual([]);
  });
  test("every action has an inverse that undoes it", () => {
    const p = planFamily(MAC, st("192.0.2.5", "192.0.2.1"), base);
    if (!p.ok) throw new Error("plan failed");
    expect(p.actions.map(inverse).map((a) => a.op)).toEqual(["replace-default-route", "add-address", "del-address", "del-default-route"]);
  });
});
