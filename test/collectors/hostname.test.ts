import { afterEach, expect, test } from "bun:test";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { HostNameCollector, hostFactsFrom } from "../../src/collectors/hostname.ts";
import { TreeBuilder } from "../../src/schema/index.ts";
import { AGENT_FACTS } from "../../src/facts/version.ts";
import { collectingLogger } from "./network/support/netns.ts";
import { FixtureRoot } from "./volumes/fixture-root.ts";

test.each([
  ["web1", { hostName: "web1", domain: "" }],
  ["web1.example.org\n", { hostName: "web1", domain: "example.org" }],
  ["web1.example.org.", { hostName: "web1", domain: "example.org" }],
  ["localhost", undefined],
  ["(none)", undefined],
  ["", undefined],
  ["bad name!", undefined],
  ["-leading", undefined],
  // Linux holds 64 characters (HOST_NAME_MAX); XAPI stores what it is given.
  ["x".repeat(64), { hostName: "x".repeat(64), domain: "" }],
  [`${"x".repeat(64)}.example.org`, { hostName: "x".repeat(64), domain: "example.org" }],
  ["under_score", { hostName: "under_score", domain: "" }],
  ["a..b", undefined],
  ["x".repeat(254), undefined],
])("%p", (raw, expected) => {
  expect(hostFactsFrom(raw)).toEqual(expected);
});

let fixtures: FixtureRoot[] = [];
afterEach(() => {
  for (const f of fixtures) f.remove();
  fixtures = [];
});

function root(kernel: string | undefined, etc?: string): { fx: FixtureRoot; r: HostRoot } {
  const fx = new FixtureRoot();
  fixtures.push(fx);
  if (kernel !== undefined) fx.file("proc/sys/kernel/hostname", `${kernel}\n`);
  if (etc !== undefined) fx.file("etc/hostname", `${etc}\n`);
  return { fx, r: new HostRoot(fx.dir) };
}

test("a 64-character host name is published (std data/host_name_dns), not dropped", () => {
  const { r } = root("h".repeat(64));
  const log = collectingLogger();
  const host = new HostNameCollector(r, log).collect();
  const tree = new TreeBuilder({ schema: "std", extended: false, include: [], exclude: [], linkLocal: true }).build({ agent: AGENT_FACTS, host });
  expect(tree.get("data/host_name_dns")).toBe("h".repeat(64));
  expect(tree.has("data/domain")).toBe(false);
  expect(log.lines).toEqual([]);
});

test("a host name that cannot be published is removed with one warning saying why, not one per tick", () => {
  const { fx, r } = root("bad name!");
  const log = collectingLogger();
  const c = new HostNameCollector(r, log);
  for (let i = 0; i < 3; i++) expect(c.collect()).toBeUndefined();
  const warnings = log.lines.filter((l) => l.level === "warn");
  expect(warnings).toHaveLength(1);
  expect(warnings[0]!.message).toContain('"bad name!"');
  expect(warnings[0]!.message).toContain("not published");
  fx.file("proc/sys/kernel/hostname", "good.example.org\n");
  expect(c.collect()).toEqual({ hostName: "good", domain: "example.org" });
  fx.file("proc/sys/kernel/hostname", "bad name!\n");
  expect(c.collect()).toBeUndefined();
  expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(2);
});

test("a kernel name that cannot be published is not replaced by an older etc/hostname (no stale domain)", () => {
  const { r } = root("new name with spaces", "old.previous.example");
  expect(new HostNameCollector(r, collectingLogger()).collect()).toBeUndefined();
});

test("etc/hostname is used when the kernel has no name", () => {
  expect(new HostNameCollector(root("(none)", "web1.example.org").r).collect()).toEqual({ hostName: "web1", domain: "example.org" });
  expect(new HostNameCollector(root(undefined, "web2").r).collect()).toEqual({ hostName: "web2", domain: "" });
});
