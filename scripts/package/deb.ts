#!/usr/bin/env bun
// Builds dist/xen-guest-agent_<version>-<release>_<arch>.deb from the release binaries with
// dpkg-deb (no debhelper: the binary is prebuilt, and dh_strip would turn it back into plain bun).
//
//   bun scripts/package/deb.ts [--arch x86_64,aarch64]
//
// The package is named xen-guest-agent, like the Rust agent's: with a higher version it upgrades
// that package in place. It Conflicts/Replaces xe-guest-utilities, so installing it removes
// xe-guest-utilities (both write the same xenstore keys). Depends on libc6 (>= 2.17): the highest
// GLIBC_ symbol version the Bun binaries use.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  archsFrom, binaryFor, DESCRIPTION, DIST, HOMEPAGE, MAINTAINER, MANPAGE_SOURCE, RELEASE, REPO, run, SUMMARY, UNIT_SOURCE, VERSION,
  type PackageArch,
} from "./common.ts";

const DEB_ARCH: Record<PackageArch, string> = { x86_64: "amd64", aarch64: "arm64" };

function put(root: string, path: string, data: string | Uint8Array, mode: number): void {
  const target = join(root, path);
  mkdirSync(join(target, ".."), { recursive: true, mode: 0o755 });
  writeFileSync(target, data);
  chmodSync(target, mode);
}

/** gzip -9n equivalent: no name or time stamp in the header, so the package is reproducible. */
function gzip(text: string): Uint8Array {
  return gzipSync(text, { level: 9 });
}

function md5sums(stage: string): string {
  const lines: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(stage, rel)).sort()) {
      const p = rel ? `${rel}/${e}` : e;
      if (statSync(join(stage, p)).isDirectory()) walk(p);
      else lines.push(`${createHash("md5").update(readFileSync(join(stage, p))).digest("hex")}  ${p}`);
    }
  };
  walk("");
  return `${lines.join("\n")}\n`;
}

export function buildDeb(arch: PackageArch): string {
  const version = `${VERSION}-${RELEASE}`;
  const stage = join(DIST, `deb-${DEB_ARCH[arch]}`);
  rmSync(stage, { recursive: true, force: true });
  const binary = binaryFor(arch);
  put(stage, "usr/sbin/xen-guest-agent", readFileSync(binary), 0o755);
  // bookworm's debhelper still installs units under /lib; merged /usr makes both the same place.
  put(stage, "lib/systemd/system/xen-guest-agent.service", readFileSync(UNIT_SOURCE), 0o644);
  // The SysV script too: the binary supports SysV init, and Debian can boot without systemd.
  put(stage, "etc/init.d/xen-guest-agent", readFileSync(join(REPO, "deploy/sysv/xen-guest-agent.init")), 0o755);
  put(stage, "usr/share/man/man8/xen-guest-agent.8.gz", gzip(readFileSync(MANPAGE_SOURCE, "utf8")), 0o644);
  put(stage, "usr/share/doc/xen-guest-agent/copyright", readFileSync(join(REPO, "deploy/debian/copyright")), 0o644);
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000 || Date.now()).toUTCString().replace("GMT", "+0000");
  put(
    stage,
    "usr/share/doc/xen-guest-agent/changelog.Debian.gz",
    gzip(`xen-guest-agent (${version}) unstable; urgency=medium\n\n  * Release ${VERSION}.\n\n -- ${MAINTAINER}  ${date}\n`),
    0o644,
  );
  put(stage, "usr/share/lintian/overrides/xen-guest-agent", readFileSync(join(REPO, "deploy/debian/lintian-overrides")), 0o644);
  // md5sums lets `dpkg --verify` check the installed files.
  put(stage, "DEBIAN/md5sums", md5sums(stage), 0o644);
  // Files under /etc are the administrator's once installed (dpkg asks before replacing them).
  put(stage, "DEBIAN/conffiles", "/etc/init.d/xen-guest-agent\n", 0o644);
  for (const script of ["postinst", "prerm", "postrm"]) put(stage, `DEBIAN/${script}`, readFileSync(join(REPO, "deploy/debian", script)), 0o755);
  const installedKiB = Math.ceil(statSync(binary).size / 1024) + 16;
  const control = [
    "Package: xen-guest-agent",
    `Version: ${version}`,
    `Architecture: ${DEB_ARCH[arch]}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKiB}`,
    // invoke-rc.d --skip-systemd-native in the maintainer scripts (what debhelper adds too).
    "Pre-Depends: init-system-helpers (>= 1.54~)",
    "Depends: libc6 (>= 2.17)",
    "Conflicts: xe-guest-utilities",
    "Replaces: xe-guest-utilities",
    "Section: admin",
    "Priority: optional",
    ...(HOMEPAGE ? [`Homepage: ${HOMEPAGE}`] : []),
    `Description: ${SUMMARY}`,
    ...DESCRIPTION.split("\n").map((l) => ` ${l}`),
  ].join("\n");
  put(stage, "DEBIAN/control", `${control}\n`, 0o644);
  const out = join(DIST, `xen-guest-agent_${version}_${DEB_ARCH[arch]}.deb`);
  // gzip: every dpkg reads it (zstd needs dpkg >= 1.21.18), and xz takes 15x longer on this
  // 100 MB binary (measured: gzip -6 49 MiB in 5 s, xz -6 37 MiB in 74 s on 2 cores).
  run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", stage, out]);
  rmSync(stage, { recursive: true, force: true });
  return out;
}

if (import.meta.main) {
  try {
    for (const arch of archsFrom(process.argv.slice(2))) console.log(buildDeb(arch));
  } catch (e) {
    console.error(`deb: ${(e as Error).message}`);
    process.exit(1);
  }
}
