// Issue 17 #8: linux-x64 and linux-x64-baseline. The build reads each file's GNU build id (the
// runtime's) and says whether the two differ; the docs must say what the build finds.
import { describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { baselineRuntime } from "../../scripts/build.ts";
import { elfBuildId } from "../../scripts/release/build-id.ts";
import { DIST, REPO, releaseBinary, removeTree, tempDir } from "./support.ts";

function readelfBuildId(file: string): string | undefined {
  const r = Bun.spawnSync(["readelf", "-n", file], { stdout: "pipe", stderr: "pipe" });
  return /Build ID: ([0-9a-f]+)/.exec(r.stdout.toString())?.[1];
}

describe("ELF build id", () => {
  test("equals readelf's for a host executable and for a release binary of each architecture", async () => {
    if (!Bun.which("readelf")) return console.log("skipped: no readelf (binutils) to compare with");
    for (const file of ["/bin/sh", await releaseBinary("linux-x64"), await releaseBinary("linux-arm64")]) {
      const expected = readelfBuildId(file);
      expect(expected).toBeString();
      expect(elfBuildId(file)).toBe(expected);
    }
  }, 600_000);

  test("is undefined for a file that is not ELF", () => {
    expect(elfBuildId(join(REPO, "package.json"))).toBeUndefined();
  });
});

describe("x64 and x64-baseline runtimes", () => {
  test("baselineRuntime tells the same runtime from a different one", async () => {
    const dir = tempDir("baseline");
    try {
      expect(baselineRuntime(dir)).toBeUndefined();
      copyFileSync(await releaseBinary("linux-x64"), join(dir, "xen-guest-agent-linux-x64"));
      copyFileSync(await releaseBinary("linux-x64"), join(dir, "xen-guest-agent-linux-x64-baseline"));
      expect(baselineRuntime(dir)?.distinct).toBe(false);
      copyFileSync(await releaseBinary("linux-x64-musl"), join(dir, "xen-guest-agent-linux-x64-baseline"));
      expect(baselineRuntime(dir)?.distinct).toBe(true);
    } finally {
      removeTree(dir);
    }
  }, 600_000);

  test("the docs say what this build's release files are", async () => {
    await releaseBinary("linux-x64-baseline");
    const found = baselineRuntime(DIST);
    expect(found).toBeDefined();
    const install = readFileSync(join(REPO, "docs/install.md"), "utf8");
    const promisesSame = /it is \*\*the same runtime\*\* as `linux-x64`/.test(install);
    // With Bun 1.4.5 the two are one binary; if an upgrade makes them differ, the docs must change.
    expect(found!.distinct).toBe(!promisesSame);
  }, 600_000);
});
