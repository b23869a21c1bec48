// The .deb and .rpm packages: built from dist/ by scripts/package/, lintian-clean, and installed,
// upgraded over and removed from a scratch root with `dpkg --root` / `rpm --root` (maintainer
// scripts run chrooted there with dash). A dummy xe-guest-utilities and a dummy Rust
// xen-guest-agent 0.4.0 show what the Conflicts/Replaces/Obsoletes and the version do.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIST, REPO, chrootUnavailable, copyInto, glibcRoot, inChroot, releaseBinary, removeTree, skipped, tempDir } from "./support.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const DEB = join(DIST, `xen-guest-agent_${VERSION}-1_amd64.deb`);
const RPM = join(DIST, `xen-guest-agent-${VERSION}-1.x86_64.rpm`);
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

function tmp(name: string): string {
  const d = tempDir(name);
  dirs.push(d);
  return d;
}

function sh(argv: string[], cwd = REPO): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

function ok(argv: string[]): string {
  const r = sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.code}):\n${r.out}`);
  return r.out;
}

const onX64 = process.arch === "x64";
const root = chrootUnavailable();
const debWhy = !onX64 ? "the amd64 package is installed and run here; this is not x86-64" : !Bun.which("dpkg-deb") ? "dpkg-deb is not installed" : root;
const rpmWhy = !onX64 ? "the x86_64 package is installed and run here; this is not x86-64" : !Bun.which("rpmbuild") ? "rpmbuild is not installed (Debian package rpm)" : root;
if (debWhy) skipped(".deb packages", debWhy);
if (rpmWhy) skipped(".rpm packages", rpmWhy);

beforeAll(async () => {
  await releaseBinary("linux-x64-baseline");
  await releaseBinary("linux-arm64");
}, 300_000);

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** A scratch root for a package manager: dash for the maintainer scripts, the agent's libraries. */
function packageRoot(name: string): string {
  const r = tmp(name);
  glibcRoot(r, [join(DIST, "xen-guest-agent-linux-x64-baseline")]);
  return r;
}

describe(".deb", () => {
  test.skipIf(debWhy !== undefined)("builds for amd64 and arm64 with the binary unstripped, the unit and the man page", () => {
    ok([process.execPath, "scripts/package/deb.ts"]);
    for (const arch of ["amd64", "arm64"]) {
      const deb = join(DIST, `xen-guest-agent_${VERSION}-1_${arch}.deb`);
      const fields = ok(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends", "Conflicts", "Replaces"]);
      expect(fields).toBe(`Package: xen-guest-agent\nVersion: ${VERSION}-1\nArchitecture: ${arch}\nDepends: libc6 (>= 2.17)\nConflicts: xe-guest-utilities\nReplaces: xe-guest-utilities\n`);
      const files = ok(["dpkg-deb", "-c", deb]);
      for (const f of ["./usr/sbin/xen-guest-agent", "./lib/systemd/system/xen-guest-agent.service", "./etc/init.d/xen-guest-agent", "./usr/share/man/man8/xen-guest-agent.8.gz"]) expect(files).toContain(f);
      expect(ok(["dpkg-deb", "-I", deb, "conffiles"])).toBe("/etc/init.d/xen-guest-agent\n");
    }
  }, 120_000);

  const lintian = Bun.which("lintian");
  if (!debWhy && !lintian) skipped("lintian", "lintian is not installed");
  test.skipIf(debWhy !== undefined || !lintian)("is lintian-clean (errors and warnings; overrides say why)", () => {
    const r = sh(["lintian", "--fail-on", "error,warning", DEB]);
    expect(r.out.split("\n").filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.code).toBe(0);
  }, 120_000);

  test.skipIf(debWhy !== undefined)("installs over xe-guest-utilities (removing it) and over the Rust 0.4.0 package, runs, removes and purges cleanly", () => {
    const dummy = (name: string, version: string, file: string) => {
      const stage = tmp(`deb-${name}`);
      mkdirSync(join(stage, "DEBIAN"));
      writeFileSync(join(stage, "DEBIAN/control"), `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: Test <test@example.org>\nDescription: stand-in for the real package\n`);
      mkdirSync(join(stage, "usr/sbin"), { recursive: true });
      writeFileSync(join(stage, "usr/sbin", file), "#!/bin/sh\n");
      const out = join(tmp("debs"), `${name}.deb`);
      ok(["dpkg-deb", "--root-owner-group", "--build", stage, out]);
      return out;
    };
    const r = packageRoot("dpkg");
    for (const d of ["info", "updates", "triggers"]) mkdirSync(join(r, "var/lib/dpkg", d), { recursive: true });
    for (const f of ["status", "available"]) writeFileSync(join(r, "var/lib/dpkg", f), "");
    // libc6 is present as files but not in this scratch dpkg database.
    const dpkg = (...args: string[]) => ok(["dpkg", `--root=${r}`, "--force-depends", ...args]);
    const status = (pkg: string) => Bun.spawnSync(["dpkg-query", `--root=${r}`, "-W", "-f=${db:Status-Abbrev}${Version}", pkg]).stdout.toString().trim();

    dpkg("-i", dummy("xe-guest-utilities", "7.30.0-1", "xe-daemon"));
    expect(dpkg("-i", DEB)).toContain("Removing xe-guest-utilities");
    expect(status("xen-guest-agent")).toBe(`ii ${VERSION}-1`);
    expect(status("xe-guest-utilities")).not.toStartWith("ii");
    expect(existsSync(join(r, "usr/sbin/xe-daemon"))).toBe(false);
    expect(readFileSync(join(r, "usr/sbin/xen-guest-agent")).equals(readFileSync(join(DIST, "xen-guest-agent-linux-x64-baseline")))).toBe(true);
    expect(inChroot(r, ["/usr/sbin/xen-guest-agent", "--version"]).stdout.trim()).toBe(VERSION);
    ok(["dpkg", `--root=${r}`, "--verify", "xen-guest-agent"]);

    dpkg("--remove", "xen-guest-agent");
    expect(existsSync(join(r, "usr/sbin/xen-guest-agent"))).toBe(false);
    expect(existsSync(join(r, "lib/systemd/system/xen-guest-agent.service"))).toBe(false);
    dpkg("--purge", "xen-guest-agent");
    expect(status("xen-guest-agent")).toBe("");

    // Same package name as the Rust agent: a higher version is an ordinary upgrade.
    dpkg("-i", dummy("xen-guest-agent", "0.4.0", "xen-guest-agent"));
    expect(dpkg("-i", DEB)).toContain(`Preparing to unpack`);
    expect(status("xen-guest-agent")).toBe(`ii ${VERSION}-1`);
    expect(inChroot(r, ["/usr/sbin/xen-guest-agent", "--version"]).stdout.trim()).toBe(VERSION);
  }, 120_000);
});

describe(".rpm", () => {
  test.skipIf(rpmWhy !== undefined)("builds for x86_64 and aarch64 with Conflicts and Obsoletes of xe-guest-utilities(-latest)", () => {
    ok([process.execPath, "scripts/package/rpm.ts"]);
    for (const arch of ["x86_64", "aarch64"]) {
      const rpm = join(DIST, `xen-guest-agent-${VERSION}-1.${arch}.rpm`);
      expect(ok(["rpm", "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n", rpm]).trim()).toBe(`xen-guest-agent ${VERSION}-1 ${arch}`);
      expect(ok(["rpm", "-qp", "--conflicts", rpm]).trim().split("\n")).toEqual(["xe-guest-utilities", "xe-guest-utilities-latest"]);
      expect(ok(["rpm", "-qp", "--obsoletes", rpm]).trim().split("\n")).toEqual(["xe-guest-utilities", "xe-guest-utilities-latest"]);
      expect(ok(["rpm", "-qpl", rpm]).trim().split("\n")).toEqual([
        "/usr/lib/systemd/system-preset/80-xen-guest-agent.preset",
        "/usr/lib/systemd/system/xen-guest-agent.service",
        "/usr/sbin/xen-guest-agent",
        `/usr/share/licenses/xen-guest-agent-${VERSION}`,
        `/usr/share/licenses/xen-guest-agent-${VERSION}/LICENSE`,
        "/usr/share/man/man8/xen-guest-agent.8.gz",
      ]);
      // Unversioned Obsoletes need a matching Provides; the license is marked as such.
      expect(ok(["rpm", "-qp", "--provides", rpm])).toContain(`xe-guest-utilities = ${VERSION}-1`);
      expect(ok(["rpm", "-qp", "--provides", rpm])).toContain(`xe-guest-utilities-latest = ${VERSION}-1`);
      expect(ok(["rpm", "-qpL", rpm]).trim()).toBe(`/usr/share/licenses/xen-guest-agent-${VERSION}/LICENSE`);
      expect(ok(["rpm", "-qp", "--changelog", rpm])).toContain(`- ${VERSION}-1\n- Release ${VERSION}.`);
    }
  }, 120_000);

  const rpmlint = Bun.which("rpmlint");
  if (!rpmWhy && !rpmlint) skipped("rpmlint", "rpmlint is not installed (Debian package rpmlint)");
  test.skipIf(rpmWhy !== undefined || !rpmlint)("rpmlint reports no error but the missing signature (the releaser signs)", () => {
    const out = sh(["rpmlint", RPM]).out;
    expect(out.split("\n").filter((l) => / E: /.test(l))).toEqual(["xen-guest-agent.x86_64: E: no-signature"]);
  }, 120_000);

  const systemctl = Bun.which("systemctl");
  if (!rpmWhy && !systemctl) skipped("offline rpm enable", "systemctl is not installed");
  test.skipIf(rpmWhy !== undefined || !systemctl)("installed without a running systemd (an image build), it is enabled; erased, disabled", () => {
    const r = packageRoot("rpm-offline");
    glibcRoot(r, [systemctl as string]);
    const ctl = (systemctl as string).replace(/^\/usr/, "");
    copyInto(r, systemctl as string, `/usr${ctl}`, 0o755);
    copyInto(r, systemctl as string, ctl, 0o755);
    expect(existsSync(join(r, "run/systemd/system"))).toBe(false);
    const rpm = (...args: string[]) => ok(["rpm", "--root", r, ...args]);
    rpm("--initdb");
    const wants = join(r, "etc/systemd/system/multi-user.target.wants/xen-guest-agent.service");
    rpm("-i", "--nodeps", RPM);
    expect(readlinkSync(wants)).toBe("/usr/lib/systemd/system/xen-guest-agent.service");
    rpm("-e", "xen-guest-agent");
    expect(lstatOrUndefined(wants)).toBeUndefined(); // the link itself, not only its target
  }, 120_000);

  test.skipIf(rpmWhy !== undefined)("replaces xe-guest-utilities, runs unstripped, erases cleanly (rpm --root --nodeps)", () => {
    const top = tmp("rpmbuild");
    mkdirSync(join(top, "SPECS"));
    writeFileSync(
      join(top, "SPECS/xe.spec"),
      "Name: xe-guest-utilities\nVersion: 7.30.0\nRelease: 1\nSummary: stand-in\nLicense: BSD\nBuildArch: noarch\n%description\nstand-in\n" +
        "%install\nmkdir -p %{buildroot}/usr/sbin && echo x > %{buildroot}/usr/sbin/xe-daemon\n%files\n/usr/sbin/xe-daemon\n",
    );
    ok(["rpmbuild", "-bb", "--define", `_topdir ${top}`, join(top, "SPECS/xe.spec")]);
    const r = packageRoot("rpm");
    // --nodeps: the scratch root's libc is files, not an rpm.
    const rpm = (...args: string[]) => ok(["rpm", "--root", r, ...args]);
    rpm("--initdb");
    rpm("-i", "--nodeps", join(top, "RPMS/noarch/xe-guest-utilities-7.30.0-1.noarch.rpm"));
    rpm("-U", "--nodeps", RPM);
    expect(rpm("-qa").trim()).toBe(`xen-guest-agent-${VERSION}-1.x86_64`);
    expect(existsSync(join(r, "usr/sbin/xe-daemon"))).toBe(false);
    expect(inChroot(r, ["/usr/sbin/xen-guest-agent", "--version"]).stdout.trim()).toBe(VERSION);
    expect(sh(["rpm", "--root", r, "-V", "--nodeps", "xen-guest-agent"])).toEqual({ code: 0, out: "" });
    rpm("-e", "xen-guest-agent");
    expect(rpm("-qa").trim()).toBe("");
    expect(existsSync(join(r, "usr/sbin/xen-guest-agent"))).toBe(false);
  }, 120_000);
});
