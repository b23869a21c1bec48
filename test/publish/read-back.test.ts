// Reading back the owned tree: what it finds, and what it costs the daemon (requests sent).
import { expect, test } from "bun:test";
import { readBack, type TreeReader } from "../../src/publish/read-back.ts";
import { SCHEMAS } from "../../src/schema/index.ts";
import { XenstoreError } from "../../src/xenstore/errors.ts";

/** A reader over a flat map of nodes (every ancestor present), counting requests. */
function reader(nodes: Record<string, string>): TreeReader & { requests: string[] } {
  const requests: string[] = [];
  const has = (p: string) => Object.hasOwn(nodes, p);
  const enoent = () => new XenstoreError("ENOENT", "test");
  return {
    requests,
    read: async (p) => {
      requests.push(`READ ${p}`);
      if (!has(p)) throw enoent();
      return nodes[p]!;
    },
    directory: async (p) => {
      requests.push(`DIRECTORY ${p}`);
      if (!has(p)) throw enoent();
      return Object.keys(nodes).filter((k) => k.startsWith(`${p}/`) && !k.slice(p.length + 1).includes("/")).map((k) => k.slice(p.length + 1));
    },
  };
}

const SKELETON = { data: "", attr: "", control: "", "control/shutdown": "", feature: "", device: "" };
const OWNED = [...new Set(Object.values(SCHEMAS).flatMap((s) => s.owned))];

test("a fresh domain's tree (after a migration): one DIRECTORY per parent, nothing found", async () => {
  const r = reader(SKELETON);
  expect(await readBack(r, OWNED)).toEqual(new Map());
  expect(r.requests.every((q) => q.startsWith("DIRECTORY "))).toBe(true);
  expect(r.requests.sort()).toEqual(["DIRECTORY attr", "DIRECTORY control", "DIRECTORY data", "DIRECTORY feature", "DIRECTORY xenserver/attr"]);
});

test("a published tree: every owned node and its value, nothing outside the owned paths", async () => {
  const tree = {
    ...SKELETON,
    "data/os_name": "Debian", "data/meminfo_free": "1", "data/volumes": "", "data/volumes/0": "", "data/volumes/0/size": "9",
    "attr/vif": "", "attr/vif/0": "", "attr/vif/0/ipv4": "", "attr/vif/0/ipv4/0": "10.0.0.2",
    "attr/other": "kept out", "data/not-ours": "kept out",
  };
  const r = reader(tree);
  const found = await readBack(r, OWNED);
  expect(Object.fromEntries(found)).toEqual({
    "data/os_name": "Debian", "data/meminfo_free": "1", "data/volumes": "", "data/volumes/0": "", "data/volumes/0/size": "9",
    "attr/vif": "", "attr/vif/0": "", "attr/vif/0/ipv4": "", "attr/vif/0/ipv4/0": "10.0.0.2",
  });
  // Absent owned paths cost nothing beyond their parent's listing.
  expect(r.requests.filter((q) => q.endsWith(" data/os_uname"))).toEqual([]);
});

test("relative to a base (a privileged connection), and a missing parent is simply empty", async () => {
  const r = reader({ "/local/domain/7/data": "", "/local/domain/7/data/os_name": "Debian" });
  expect(Object.fromEntries(await readBack(r, ["data/os_name", "attr/vif"], "/local/domain/7"))).toEqual({ "data/os_name": "Debian" });
});
