// docs/cloud-init.yaml: its runcmd script is run as cloud-init would (sh), in a chroot that looks
// like a fresh systemd Xen guest (fake systemctl recording calls, /sys/hypervisor/type = xen), with
// the release URL pointed at a local copy of dist/ (file://). Only that one line is changed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DIST, REPO, chrootUnavailable, copyInto, glibcRoot, inChroot, releaseBinary, removeTree, skipped, tempDir, writeExecutable } from "./support.ts";

const TEXT = readFileSync(join(REPO, "docs/cloud-init.yaml"), "utf8");
const TOOLS = ["curl", "sha256sum", "mktemp", "grep", "chmod", "rm", "uname"];
const missing = TOOLS.filter((t) => !Bun.which(t));
const why = chrootUnavailable() ?? (process.arch !== "x64" ? "the x86-64 release is used here" : missing.length ? `missing ${missing.join(", ")}` : undefined);
if (why) skipped("cloud-init runcmd", why);
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

const script = (Bun.YAML.parse(TEXT) as { runcmd: string[] }).runcmd[0] as string;

/** The runcmd script with the release URL (and optionally the pinned sums) replaced. */
function localScript(sums = ""): string {
  const base = /^base=.*$/m;
  expect(script).toMatch(base);
  return script.replace(base, 'base="file:///release"').replace(/^sums=""$/m, `sums="${sums}"`);
}

/** A fresh guest: tools, a recording systemctl, systemd running, Xen, and the release files. */
function guest(): string {
  const root = tempDir("cloud-init");
  dirs.push(root);
  const tools = TOOLS.map((t) => Bun.which(t) as string);
  glibcRoot(root, [join(DIST, "xen-guest-agent-linux-x64-baseline"), ...tools]);
  for (const t of tools) copyInto(root, t, `/usr/bin/${t.split("/").pop()}`, 0o755);
  writeExecutable(join(root, "usr/bin/systemctl"), '#!/bin/sh\necho "systemctl $*" >> /calls\ncase "$1" in is-enabled|is-active) exit 1 ;; esac\n');
  mkdirSync(join(root, "run/systemd/system"), { recursive: true });
  mkdirSync(join(root, "sys/hypervisor"), { recursive: true });
  writeFileSync(join(root, "sys/hypervisor/type"), "xen\n");
  mkdirSync(join(root, "release"));
  for (const f of ["SHA256SUMS", "xen-guest-agent-linux-x64-baseline"]) copyFileSync(join(DIST, f), join(root, "release", f));
  return root;
}

beforeAll(async () => {
  if (!why) await releaseBinary("linux-x64-baseline");
}, 300_000);

describe("docs/cloud-init.yaml", () => {
  test("is a #cloud-config with one runcmd script", () => {
    expect(TEXT.startsWith("#cloud-config\n")).toBe(true);
    expect(Object.keys(Bun.YAML.parse(TEXT) as object)).toEqual(["packages", "runcmd"]);
    expect((Bun.YAML.parse(TEXT) as { packages: string[] }).packages).toEqual(["curl"]);
  });

  test.skipIf(why !== undefined)("downloads, checks the SHA-256 and installs: binary, unit, service enabled and started", () => {
    const root = guest();
    const r = inChroot(root, ["/bin/sh", "-c", localScript()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, "usr/sbin/xen-guest-agent")).equals(readFileSync(join(DIST, "xen-guest-agent-linux-x64-baseline")))).toBe(true);
    expect(existsSync(join(root, "etc/systemd/system/xen-guest-agent.service"))).toBe(true);
    const calls = readFileSync(join(root, "calls"), "utf8").trim().split("\n").filter((c) => !/ is-(enabled|active) /.test(c));
    expect(calls).toEqual(["systemctl daemon-reload", "systemctl enable xen-guest-agent.service", "systemctl start xen-guest-agent.service"]);
    expect(inChroot(root, ["/bin/sh", "-c", "ls /tmp"]).stdout).toBe(""); // the download directory is gone
  });

  test.skipIf(why !== undefined)("a corrupted download is refused and nothing is installed", () => {
    const root = guest();
    const bin = join(root, "release/xen-guest-agent-linux-x64-baseline");
    const data = readFileSync(bin);
    data.writeUInt8((data.at(-1) as number) ^ 1, data.length - 1);
    writeFileSync(bin, data);
    const r = inChroot(root, ["/bin/sh", "-c", localScript()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("checksum did NOT match");
    expect(existsSync(join(root, "usr/sbin/xen-guest-agent"))).toBe(false);
    expect(inChroot(root, ["/bin/sh", "-c", "ls /tmp"]).stdout).toBe(""); // no download left behind
  });

  test.skipIf(why !== undefined)("with the sums pinned, a changed SHA256SUMS is refused", () => {
    const root = guest();
    const pinned = createHash("sha256").update(readFileSync(join(root, "release/SHA256SUMS"))).digest("hex");
    expect(inChroot(root, ["/bin/sh", "-c", localScript(pinned)]).code).toBe(0);
    const other = guest();
    writeFileSync(join(other, "release/SHA256SUMS"), `${readFileSync(join(other, "release/SHA256SUMS"), "utf8")}\n`);
    const r = inChroot(other, ["/bin/sh", "-c", localScript(pinned)]);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(other, "usr/sbin/xen-guest-agent"))).toBe(false);
  });
});
