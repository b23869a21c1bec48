import { describe, expect, test } from "bun:test";
import type { NetAddress } from "../../src/facts/facts.ts";
import { assignSlots } from "../../src/schema/slots.ts";

function addr(address: string, extra: Partial<NetAddress> = {}): NetAddress {
  return { family: "ipv6", address, prefixLength: 64, scope: "global", temporary: false, deprecated: false, tentative: false, dadfailed: false, ...extra };
}

describe("assignSlots", () => {
  test("first publication puts the preferred address at index 0", () => {
    const slots = assignSlots(undefined, [addr("fe80::1", { scope: "link" }), addr("2001:db8::9", { temporary: true }), addr("2001:db8::1")]);
    expect(Object.fromEntries(slots)).toEqual({ "2001:db8::1": 0, "2001:db8::9": 1, "fe80::1": 2 });
  });

  test("an address keeps its index while it exists", () => {
    const first = assignSlots(undefined, [addr("a::1"), addr("a::2"), addr("a::3")]);
    const second = assignSlots(first, [addr("a::3"), addr("a::1")]);
    expect(Object.fromEntries(second)).toEqual({ "a::1": 0, "a::3": 2 });
  });

  test("a new address takes the lowest free index; freed indices are reused without limit", () => {
    let slots = assignSlots(undefined, [addr("a::1"), addr("a::2")]);
    for (let i = 3; i < 200; i++) {
      slots = assignSlots(slots, [addr("a::1"), addr(`a::${i}`)]);
      expect(slots.get(`a::${i}`)).toBe(1);
    }
    expect(slots.get("a::1")).toBe(0);
  });

  test("later arrivals do not move anything, even if preferred", () => {
    const first = assignSlots(undefined, [addr("fe80::1", { scope: "link" })]);
    const second = assignSlots(first, [addr("fe80::1", { scope: "link" }), addr("2001:db8::1")]);
    expect(Object.fromEntries(second)).toEqual({ "fe80::1": 0, "2001:db8::1": 1 });
  });

  test("duplicates count once", () => {
    expect(assignSlots(undefined, [addr("a::1"), addr("a::1")]).size).toBe(1);
  });
});
