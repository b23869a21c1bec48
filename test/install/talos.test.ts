// The Talos system extension from scripts/package/talos.ts: the tree Talos expects (manifest.yaml,
// the service spec, the container root), a service spec of the same shape as the Rust agent's
// extension, and a container root in which the binary runs as Talos starts it (`./xen-guest-agent`
// from the container root, nothing from the host): chrooted on x86-64, under qemu-user for aarch64
// with the root as qemu's only library prefix.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DIST, REPO, chrootUnavailable, devNull, inChroot, releaseBinary, removeTree, skipped, tempDir } from "./support.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const CONTAINER = "rootfs/usr/local/lib/containers/xen-guest-agent";
const readelf = Bun.which("readelf");
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

if (!readelf) skipped("Talos extension", "readelf is not installed (Debian package binutils)");

beforeAll(async () => {
  if (!readelf) return;
  await releaseBinary("linux-x64-baseline");
  await releaseBinary("linux-arm64");
  const r = Bun.spawnSync([process.execPath, "scripts/package/talos.ts"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`talos.ts failed:\n${r.stderr}`);
}, 300_000);

describe.skipIf(!readelf)("Talos system extension", () => {
  test("manifest: name, version, Talos >= 1.5", () => {
    for (const arch of ["x86_64", "aarch64"]) {
      const manifest = Bun.YAML.parse(readFileSync(join(DIST, "talos", arch, "manifest.yaml"), "utf8")) as any;
      expect(manifest).toMatchObject({ version: "v1alpha1", metadata: { name: "xen-guest-agent", version: VERSION, compatibility: { talos: { version: ">= v1.5.0" } } } });
    }
  });

  test("service spec: ./xen-guest-agent -s, read-only rootfs and sysfs, restart always, waits for xenbus and addresses", () => {
    const spec = Bun.YAML.parse(readFileSync(join(DIST, "talos/x86_64/rootfs/usr/local/etc/containers/xen-guest-agent.yaml"), "utf8")) as any;
    expect(spec.name).toBe("xen-guest-agent"); // Talos calls it ext-xen-guest-agent
    expect(spec.container.entrypoint).toBe("./xen-guest-agent");
    expect(spec.container.args).toEqual(["-s", "--root", "/host"]);
    expect(spec.container.security).toEqual({ writeableRootfs: false, writeableSysfs: false });
    expect(spec.restart).toBe("always");
    expect(spec.depends).toEqual([{ path: "/dev/xen/xenbus" }, { network: ["addresses"] }]);
    // The mount point exists in the (read-only) container root; the others are inside the node's tree.
    expect(statSync(join(DIST, "talos/x86_64", CONTAINER, "host")).isDirectory()).toBe(true);
  });

  test("mounts: the node's root recursively read-only (rro, rprivate); writable only the vCPU directory and pm_freeze_timeout", () => {
    const spec = Bun.YAML.parse(readFileSync(join(DIST, "talos/x86_64/rootfs/usr/local/etc/containers/xen-guest-agent.yaml"), "utf8")) as any;
    const [root, ...rest] = spec.container.mounts as { source: string; destination: string; type: string; options: string[] }[];
    expect(root).toEqual({ source: "/", destination: "/host", type: "bind", options: ["rbind", "rprivate", "ro", "rro"] });
    // "ro" without "rro" leaves sub-mounts writable; propagation from the node would bring new
    // mounts in writable.
    expect(root?.options.some((o) => /^r?(slave|shared)$/.test(o))).toBe(false);
    expect(rest.map((m) => [m.source, m.destination, m.options])).toEqual([
      ["/sys/devices/system/cpu", "/host/sys/devices/system/cpu", ["bind", "rw"]],
      ["/sys/power/pm_freeze_timeout", "/host/sys/power/pm_freeze_timeout", ["bind", "rw"]],
    ]);
    // Mounted after the root (runc mounts in order), each at the node's own path under /host.
    for (const m of rest) expect(m.destination).toBe(`/host${m.source}`);
  });

  test("the image layer holds exactly manifest.yaml and rootfs/", () => {
    for (const arch of ["x86_64", "aarch64"]) {
      const list = Bun.spawnSync(["tar", "-tf", join(DIST, `xen-guest-agent-talos-${VERSION}-${arch}.tar`)]).stdout.toString().trim().split("\n");
      expect(new Set(list.map((p) => p.split("/")[0]))).toEqual(new Set(["manifest.yaml", "rootfs"]));
      expect(list).toContain(`${CONTAINER}/xen-guest-agent`);
    }
  });

  const chroot = chrootUnavailable() ?? (process.arch !== "x64" ? "the x86-64 container root is run here only on x86-64" : undefined);
  if (chroot) skipped("Talos x86_64 container root", chroot);
  test.skipIf(chroot !== undefined)("x86_64: the binary runs from its container root alone and reads the node under /host", () => {
    const root = tempDir("talos");
    dirs.push(root);
    cpSync(join(DIST, "talos/x86_64", CONTAINER), root, { recursive: true });
    cpSync(join(REPO, "test/fixtures/root-container"), join(root, "host"), { recursive: true });
    devNull(root);
    const version = inChroot(root, ["./xen-guest-agent", "--version"]);
    expect(version.stdout.trim()).toBe(VERSION);
    const collected = inChroot(root, ["./xen-guest-agent", "collect", "--json", "--root", "/host"]);
    expect(collected.code).toBe(0);
    expect(JSON.parse(collected.stdout).facts.os.id).toBe("fixturelinux");
  });

  const qemu = Bun.which("qemu-aarch64-static");
  if (!qemu) skipped("Talos aarch64 container root", "no qemu-aarch64-static (Debian package qemu-user-static)");
  test.skipIf(!qemu)("aarch64: the binary runs with only its container root's libraries (qemu-user)", () => {
    const root = join(DIST, "talos/aarch64", CONTAINER);
    expect(existsSync("/lib/ld-linux-aarch64.so.1")).toBe(false); // nothing to fall back on
    const r = Bun.spawnSync([qemu as string, "-L", root, join(root, "xen-guest-agent"), "--version"], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString().trim()).toBe(VERSION);
  }, 60_000);
});
