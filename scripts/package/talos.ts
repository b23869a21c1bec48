#!/usr/bin/env bun
// Builds the Talos system extension from the release binaries:
//
//   bun scripts/package/talos.ts [--arch x86_64,aarch64]
//
// dist/talos/<arch>/                      the extension image's file system:
//   manifest.yaml                         deploy/talos/manifest.yaml with the version
//   rootfs/usr/local/etc/containers/xen-guest-agent-ts.yaml   the service (deploy/talos/)
//   rootfs/usr/local/lib/containers/xen-guest-agent-ts/       the service's container root:
//     xen-guest-agent, the glibc loader and the libraries it names, and /host (mount point)
// dist/xen-guest-agent-talos-<version>-<arch>.tar            the same tree as one image layer
//
// The extension is named xen-guest-agent-ts, not xen-guest-agent: that is siderolabs' official
// extension of the Rust agent, and Talos lists extensions and services by name only. The
// image layer carries no architecture; docs/install.md imports each with its --arch.
//
// Talos has no glibc, so the container root carries the four libraries the Bun binary links
// (libc, libdl, libm, libpthread) and the loader, copied from this Debian 12 machine (x86-64) or
// from Debian's cross C library (libc6-arm64-cross, for aarch64).
import { chmodSync, copyFileSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { archsFrom, binaryFor, DIST, REPO, run, VERSION, type PackageArch } from "./common.ts";

/** The extension's (and its Talos service's, ext-<name>) name; the binary in it keeps its own. */
export const TALOS_EXTENSION = "xen-guest-agent-ts";
/** The OCI architecture of each package architecture, for `podman import --arch`. */
export const OCI_ARCH: Record<PackageArch, string> = { x86_64: "amd64", aarch64: "arm64" };

/** Where this machine keeps each architecture's C library, and where the loader must be. */
export const LIBC: Record<PackageArch, { from: string; loader: string; libDir: string }> = {
  // Debian's x86-64 loader looks in /lib/x86_64-linux-gnu without an ld.so.cache.
  x86_64: { from: "/lib/x86_64-linux-gnu", loader: "/lib64/ld-linux-x86-64.so.2", libDir: "/lib/x86_64-linux-gnu" },
  aarch64: { from: "/usr/aarch64-linux-gnu/lib", loader: "/lib/ld-linux-aarch64.so.1", libDir: "/lib" },
};

/** The DT_NEEDED entries and the program interpreter's file name, from readelf. */
function needed(binary: string): string[] {
  const text = run(["readelf", "-d", "-l", "-W", binary]);
  const libs = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] as string);
  const interp = text.match(/Requesting program interpreter: ([^\]]+)\]/)?.[1];
  return [...new Set([...libs, ...(interp ? [interp.split("/").pop() as string] : [])])];
}

export function buildTalos(arch: PackageArch): string {
  const tree = join(DIST, "talos", arch);
  rmSync(tree, { recursive: true, force: true });
  const container = join(tree, "rootfs/usr/local/lib/containers", TALOS_EXTENSION);
  mkdirSync(join(container, "host"), { recursive: true });
  mkdirSync(join(tree, "rootfs/usr/local/etc/containers"), { recursive: true });

  const binary = binaryFor(arch);
  copyFileSync(binary, join(container, "xen-guest-agent"));
  chmodSync(join(container, "xen-guest-agent"), 0o755);
  const libc = LIBC[arch];
  for (const lib of needed(binary)) {
    const source = realpathSync(join(libc.from, lib)); // the files, not Debian's symbolic links
    const target = lib.startsWith("ld-linux") ? libc.loader : join(libc.libDir, lib);
    mkdirSync(join(container, target, ".."), { recursive: true });
    copyFileSync(source, join(container, target));
    chmodSync(join(container, target), 0o755);
  }
  copyFileSync(join(REPO, `deploy/talos/${TALOS_EXTENSION}.yaml`), join(tree, `rootfs/usr/local/etc/containers/${TALOS_EXTENSION}.yaml`));
  writeFileSync(join(tree, "manifest.yaml"), readFileSync(join(REPO, "deploy/talos/manifest.yaml"), "utf8").replace("$VERSION", VERSION));

  const tar = join(DIST, `xen-guest-agent-talos-${VERSION}-${arch}.tar`);
  run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", tree, "-cf", tar, "manifest.yaml", "rootfs"]);
  return tar;
}

if (import.meta.main) {
  try {
    for (const arch of archsFrom(process.argv.slice(2))) console.log(buildTalos(arch));
  } catch (e) {
    console.error(`talos: ${(e as Error).message}`);
    process.exit(1);
  }
}
