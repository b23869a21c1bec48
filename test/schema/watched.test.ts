// What the foreign-change watch covers: every key a schema publishes is either under one of its
// watched roots (a removal or overwrite by dom0 fires a watch) or one of its unwatched keys (the
// memory tick's, whose own writes must not fire an event back at the agent at rest).
import { describe, expect, test } from "bun:test";
import type { Facts } from "../../src/facts/facts.ts";
import { SCHEMAS, TreeBuilder, type SchemaName } from "../../src/schema/index.ts";
import { BASE_FACTS, netInterface, v4, v6, vif } from "../support/facts.ts";

const FACTS: Facts = {
  ...BASE_FACTS,
  network: { interfaces: [netInterface(vif(0, "eth0", [v4("10.0.0.2"), v6("2001:db8::2")]))] },
  volumes: {
    volumes: [{
      device: "xvda1", path: "/dev/xvda1", uuid: "u", filesystem: "ext4", sizeBytes: 4096, fsSizeBytes: 4096,
      freeBytes: 1024, mountPoints: ["/"], disks: [{ name: "xvda", vbd: 51712 }],
    }],
  },
  vcpus: { hotplug: true, present: "0-1", online: "0-1" },
};

const under = (key: string, root: string) => key === root || key.startsWith(`${root}/`);

describe.each(Object.keys(SCHEMAS) as SchemaName[])("%s", (name) => {
  const schema = SCHEMAS[name];
  const tree = new TreeBuilder({ schema: name, extended: true, include: [], exclude: [], linkLocal: true }).build(FACTS);

  test("every published key is watched or named unwatched, never both", () => {
    const uncovered = [...tree.keys()].filter((k) => !schema.watched.some((w) => under(k, w)) && !schema.unwatched.includes(k));
    expect(uncovered).toEqual([]);
    for (const k of schema.unwatched) expect(schema.watched.filter((w) => under(k, w))).toEqual([]);
  });

  test("the memory tick's key is the unwatched one, and it is published", () => {
    const memoryKeys = [...tree].filter(([, v]) => v === String(BASE_FACTS.memory!.freeKiB)).map(([k]) => k);
    expect(schema.unwatched).toEqual(memoryKeys);
  });

  test("watched roots are owned (a watch elsewhere would only cost events)", () => {
    for (const w of schema.watched) expect(schema.owned.some((o) => under(w, o))).toBe(true);
  });
});
