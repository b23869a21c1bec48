import { describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectOs, osFactsFrom, parseOsRelease } from "../../src/collectors/os-release.ts";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { collectingLogger } from "./network/support/netns.ts";

function fixtureRoot(files: Record<string, string | Buffer>): HostRoot {
  const dir = mkdtempSync(join(tmpdir(), "xga-os-"));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return new HostRoot(dir);
}

describe("parseOsRelease", () => {
  test("Debian 12 as shipped", () => {
    const vars = parseOsRelease(
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
    );
    expect(vars.get("PRETTY_NAME")).toBe("Debian GNU/Linux 12 (bookworm)");
    expect(vars.get("ID")).toBe("debian");
    expect(vars.get("VERSION_ID")).toBe("12");
  });

  test.each([
    ['A="with \\"quotes\\" and \\\\ and \\$ and \\`"', 'with "quotes" and \\ and $ and `'],
    ["A='single $quoted \\n'", "single $quoted \\n"],
    ['A="unknown \\q escape"', "unknown \\q escape"],
    ["A=bare", "bare"],
    ["A=bare trailing", "bare"],
    ['A=""', ""],
  ])("quoting %s", (line, value) => {
    expect(parseOsRelease(line).get("A")).toBe(value);
  });

  test("comments, blank lines, junk and unterminated quotes are ignored", () => {
    const vars = parseOsRelease('# ID=commented\n\n  \nnot an assignment\n=novar\nID="unterminated\nNAME=ok\n');
    expect([...vars.keys()]).toEqual(["NAME"]);
  });

  test("binary junk never throws and keeps what parses", () => {
    const junk = Buffer.from([0, 255, 10, 73, 68, 61, 120, 10, 0xc3, 0x28, 0x0a]).toString("utf8");
    expect(parseOsRelease(junk).get("ID")).toBe("x");
  });

  test("a 1 MB value is cut", () => {
    const vars = parseOsRelease(`PRETTY_NAME="${"x".repeat(1 << 20)}"\nID=big\n`);
    expect(vars.get("PRETTY_NAME")?.length).toBe(256);
    expect(vars.get("ID")).toBe("big");
  });
});

describe("osFactsFrom", () => {
  test("ID is lower-cased and sanitised; missing names fall back", () => {
    const f = osFactsFrom(new Map([["ID", "Talos"], ["NAME", "Talos"], ["VERSION", "v1.9"]]), "6.6.0");
    expect(f).toEqual({ id: "talos", name: "Talos", prettyName: "Talos v1.9", versionId: "", kernelRelease: "6.6.0" });
  });

  test("no os-release at all", () => {
    expect(osFactsFrom(new Map(), "6.1.0")).toEqual({ id: "linux", name: "", prettyName: "Linux", versionId: "", kernelRelease: "6.1.0" });
  });
});

describe("collectOs under a root", () => {
  test("etc/os-release wins, kernel from proc", () => {
    const root = fixtureRoot({
      "etc/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
      "usr/lib/os-release": "ID=wrong\n",
      "proc/sys/kernel/osrelease": "5.15.0-100-generic\n",
    });
    expect(collectOs(root, silentLogger)).toMatchObject({ id: "ubuntu", versionId: "22.04", kernelRelease: "5.15.0-100-generic" });
  });

  test("usr/lib/os-release fallback", () => {
    const root = fixtureRoot({ "usr/lib/os-release": "ID=alpine\nVERSION_ID=3.19.1\n", "proc/sys/kernel/osrelease": "6.6.1\n" });
    expect(collectOs(root, silentLogger)).toMatchObject({ id: "alpine", versionId: "3.19.1" });
  });

  test("an etc/os-release that is not a regular file (a FIFO): said once, the fallback is used", () => {
    const root = fixtureRoot({ "usr/lib/os-release": "ID=alpine\nVERSION_ID=3.19.1\n" });
    mkdirSync(root.path("etc"));
    expect(Bun.spawnSync(["mkfifo", root.path("etc/os-release")]).exitCode).toBe(0);
    const log = collectingLogger();
    expect(collectOs(root, log)).toMatchObject({ id: "alpine" });
    expect(log.lines.map((l) => `${l.level} ${l.message}`)).toEqual([
      "warn etc/os-release is a FIFO, not a regular file; not read; OS identity read from the next os-release file",
    ]);
  });

  test("missing files give sensible values, and a missing file is not worth a word", () => {
    const root = fixtureRoot({});
    const log = collectingLogger();
    const f = collectOs(root, log);
    expect(log.lines).toEqual([]);
    expect(f.id).toBe("linux");
    expect(f.prettyName).toBe("Linux");
    expect(f.kernelRelease.length).toBeGreaterThan(0); // uname() of the running kernel
  });
});
