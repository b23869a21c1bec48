// A debootstrapped Debian bookworm root (--variant=minbase plus systemd), as a minimal Debian guest
// has it: no procps, no man-db. Built once into /var/cache/xen-guest-agent-test/ (a few minutes,
// needs a Debian mirror) and reused by every later run; tests never write to it, they work on an
// overlay of it (scratchRoot) and throw the overlay away.
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { DIST, REPO, newestMtime, releaseBinary, removeTree, tempDir } from "./support.ts";

const CACHE = process.env.XGA_TEST_CACHE ?? "/var/cache/xen-guest-agent-test";
const ROOT = join(CACHE, "bookworm-minbase-systemd");
const MIRROR = process.env.XGA_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";

function sh(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

/** Why the cached root cannot be had here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (debootstrap, overlay mounts and systemd-nspawn need root)";
  if (process.arch !== "x64") return "the amd64 package is booted here; this is not x86-64";
  for (const tool of ["systemd-nspawn", "dpkg-deb", "unshare"]) if (!Bun.which(tool)) return `${tool} is not installed`;
  if (!existsSync(ROOT) && !Bun.which("debootstrap")) return `${ROOT} is not built and debootstrap is not installed`;
  return undefined;
}

/** The cached minbase root, built when missing; or why it cannot be (printed by the caller as a skip). */
export function minbaseRoot(): { root: string } | { why: string } {
  const why = unavailable();
  if (why) return { why };
  if (existsSync(ROOT)) return { root: ROOT };
  mkdirSync(CACHE, { recursive: true });
  const partial = `${ROOT}.partial`;
  removeTree(partial);
  console.log(`building ${ROOT} with debootstrap from ${MIRROR} (once; reused by later runs)`);
  const r = sh(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv", "bookworm", partial, MIRROR]);
  if (r.code !== 0) {
    removeTree(partial);
    return { why: `debootstrap failed (exit ${r.code}; is ${MIRROR} reachable?): ${r.out.trim().split("\n").slice(-3).join(" / ")}` };
  }
  renameSync(partial, ROOT);
  return { root: ROOT };
}

/** A writable overlay of `lower`; `remove` unmounts it and deletes the upper layer. */
export function scratchRoot(lower: string, name: string): { root: string; remove: () => void } {
  const dir = tempDir(name);
  for (const d of ["upper", "work", "root"]) mkdirSync(join(dir, d));
  const root = join(dir, "root");
  const r = sh(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${dir}/upper,workdir=${dir}/work`, root]);
  if (r.code !== 0) throw new Error(`overlay mount of ${lower} failed: ${r.out}`);
  return {
    root,
    remove: () => {
      sh(["umount", "--lazy", root]);
      removeTree(dir);
    },
  };
}

/** dist/xen-guest-agent_<version>-1_amd64.deb, rebuilt when older than the binary or the packaging sources. */
export async function amd64Deb(version: string): Promise<string> {
  const binary = await releaseBinary("linux-x64-baseline");
  const deb = join(DIST, `xen-guest-agent_${version}-1_amd64.deb`);
  const inputs = Math.max(statSync(binary).mtimeMs, newestMtime(["deploy", "scripts/package", "LICENSE"]));
  if (existsSync(deb) && statSync(deb).mtimeMs > inputs) return deb;
  const r = sh([process.execPath, join(REPO, "scripts/package/deb.ts"), "--arch", "x86_64"]);
  if (r.code !== 0) throw new Error(`scripts/package/deb.ts failed (exit ${r.code}):\n${r.out}`);
  return deb;
}
