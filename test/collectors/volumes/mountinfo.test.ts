import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMountField, parseMountinfo, parseMountLine } from "../../../src/collectors/volumes/mountinfo.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/mountinfo");

describe("mountinfo fields", () => {
  test("the proc(5) example line", () => {
    expect(parseMountLine("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue")).toEqual({
      id: 36, parentId: 35, major: 98, minor: 0, root: "/mnt1", mountPoint: "/mnt2", options: "rw,noatime",
      optional: ["master:1"], fsType: "ext3", source: "/dev/root", superOptions: "rw,errors=continue",
    });
  });

  test.each([
    ["no optional fields", "26 1 202:1 / / rw,relatime - ext4 /dev/xvda1 rw", []],
    ["several optional fields", "26 1 202:1 / / rw shared:1 master:2 propagate_from:3 unbindable - ext4 /dev/xvda1 rw", ["shared:1", "master:2", "propagate_from:3", "unbindable"]],
  ])("%s", (_, line, optional) => {
    expect(parseMountLine(line)?.optional).toEqual(optional);
  });

  test.each([
    ["\\040", "/srv/My\\040Data", "/srv/My Data"],
    ["\\011 and \\012", "/a\\011b\\012c", "/a\tb\nc"],
    ["\\134", "/back\\134slash", "/back\\slash"],
    ["a lone backslash stays", "/a\\b", "/a\\b"],
    ["an escape cut short stays", "/a\\04", "/a\\04"],
    ["not octal stays", "/a\\089", "/a\\089"],
    ["several", "\\040\\040", "  "],
  ])("decodes %s", (_, raw, decoded) => {
    expect(decodeMountField(raw)).toBe(decoded);
  });

  test("nsfs mounts have a root that is not a path", () => {
    expect(parseMountLine("42 65 0:4 net:[4026532317] /run/netns/x rw shared:2 - nsfs nsfs rw")?.root).toBe("net:[4026532317]");
  });

  test("an empty mount source (mount -t tmpfs '' /x) is kept as empty", () => {
    expect(parseMountLine("40 26 0:50 / /x rw - tmpfs  rw")?.source).toBe("");
  });
});

describe("hostile or broken lines are skipped, the rest is kept", () => {
  test.each([
    ["empty", ""],
    ["no separator", "26 1 202:1 / / rw,relatime ext4 /dev/xvda1 rw"],
    ["too few fields after -", "26 1 202:1 / / rw - ext4 /dev/xvda1"],
    ["too many fields after -", "26 1 202:1 / / rw - ext4 /dev/xvda1 rw extra"],
    ["bad major:minor", "26 1 202-1 / / rw - ext4 /dev/xvda1 rw"],
    ["negative id", "-26 1 202:1 / / rw - ext4 /dev/xvda1 rw"],
    ["huge number", "26 1 99999999999:1 / / rw - ext4 /dev/xvda1 rw"],
    ["relative mount point", "26 1 202:1 / mnt rw - ext4 /dev/xvda1 rw"],
    ["empty root", "26 1 202:1  / rw - ext4 /dev/xvda1 rw"],
    ["empty fs type", "26 1 202:1 / / rw -  /dev/xvda1 rw"],
    ["binary junk", "\0\xff\xfe 1 2 3"],
    ["a separator too early", "26 1 - 202:1 / / rw ext4 /dev/xvda1 rw"],
  ])("%s", (_, line) => {
    expect(parseMountLine(line)).toBeUndefined();
    const { mounts, malformed } = parseMountinfo(`${line}\n26 1 202:1 / / rw - ext4 /dev/xvda1 rw\n`);
    expect(mounts).toHaveLength(1);
    expect(malformed).toBe(line === "" ? 0 : 1);
  });

  test("a missing final newline does not lose the last line", () => {
    expect(parseMountinfo("26 1 202:1 / / rw - ext4 /dev/xvda1 rw").mounts).toHaveLength(1);
  });
});

describe("fixtures", () => {
  test("a guest with bind mounts, overlay, tmpfs, escapes, btrfs and NFS", () => {
    const { mounts, malformed } = parseMountinfo(readFileSync(join(FIXTURES, "xen-guest.txt"), "utf8"));
    expect(malformed).toBe(0);
    expect(mounts).toHaveLength(20);
    expect(mounts.find((m) => m.id === 29)?.mountPoint).toBe("/srv/My Data");
    expect(mounts.find((m) => m.id === 36)?.mountPoint).toBe("/mnt/tab\tand\nnewline\\back");
    expect(mounts.find((m) => m.id === 37)).toMatchObject({ major: 0, root: "/@home", fsType: "btrfs", source: "/dev/xvdc" });
  });

  test("this machine's mountinfo as captured", () => {
    const { mounts, malformed } = parseMountinfo(readFileSync(join(FIXTURES, "debian12-firecracker.txt"), "utf8"));
    expect(malformed).toBe(0);
    expect(mounts.length).toBeGreaterThan(10);
    expect(mounts.filter((m) => m.major === 254 && m.minor === 0).map((m) => m.root)).toEqual(["/", "/run/netns"]);
  });

  test("20 000 mounts parse quickly", () => {
    const lines: string[] = [];
    for (let i = 0; i < 20000; i++) lines.push(`${100 + i} 26 0:${60 + i} / /var/lib/kubelet/pods/p${i}/volumes/x\\040y rw - tmpfs tmpfs rw`);
    const t0 = performance.now();
    const { mounts } = parseMountinfo(lines.join("\n"));
    expect(mounts).toHaveLength(20000);
    expect(mounts[19999]!.mountPoint).toBe("/var/lib/kubelet/pods/p19999/volumes/x y");
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
