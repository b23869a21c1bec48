import { expect, test } from "bun:test";
import { hostFactsFrom } from "../../src/collectors/hostname.ts";

test.each([
  ["web1", { hostName: "web1", domain: "" }],
  ["web1.example.org\n", { hostName: "web1", domain: "example.org" }],
  ["web1.example.org.", { hostName: "web1", domain: "example.org" }],
  ["localhost", undefined],
  ["(none)", undefined],
  ["", undefined],
  ["bad name!", undefined],
  ["-leading", undefined],
  ["x".repeat(64), undefined],
])("%p", (raw, expected) => {
  expect(hostFactsFrom(raw)).toEqual(expected);
});
