// The Talos system extension from scripts/package/talos.ts: the tree Talos expects (manifest.yaml,
// the service spec, the container root), a service spec of the same shape as the Rust agent's
// extension, and a container root in which the binary runs as Talos starts it (`./xen-guest-agent`
// from the container root, nothing from the host): chrooted on x86-64, under qemu-user for aarch64
// with the root as qemu's only library prefix. The tree passes siderolabs' extension checks
// (talos-conventions.ts), is named apart from their official xen-guest-agent extension, and each
// architecture's image, imported as docs/install.md does it, is labelled with its own platform.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LIBC, OCI_ARCH, TALOS_EXTENSION } from "../../scripts/package/talos.ts";
import { extensionProblems } from "./talos-conventions.ts";
import { DIST, REPO, chrootUnavailable, devNull, inChroot, releaseBinary, removeTree, skipped, tempDir } from "./support.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const CONTAINER = `rootfs/usr/local/lib/containers/${TALOS_EXTENSION}`;
const SPEC = `rootfs/usr/local/etc/containers/${TALOS_EXTENSION}.yaml`;
const ARCHS = ["x86_64", "aarch64"] as const;
const readelf = Bun.which("readelf");
const crossLibc = existsSync(join(LIBC.aarch64.from, "libc.so.6"));
const runnable = readelf !== null && crossLibc;
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

if (!readelf) skipped("Talos extension", "readelf is not installed (Debian package binutils)");
else if (!crossLibc) skipped("Talos extension", `no ${LIBC.aarch64.from}/libc.so.6 for the aarch64 tree (Debian package libc6-arm64-cross)`);

beforeAll(async () => {
  if (!runnable) return;
  await releaseBinary("linux-x64-baseline");
  await releaseBinary("linux-arm64");
  const r = Bun.spawnSync([process.execPath, "scripts/package/talos.ts"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`talos.ts failed:\n${r.stderr}`);
}, 300_000);

describe.skipIf(!runnable)("Talos system extension", () => {
  test("manifest: its own name (not siderolabs' xen-guest-agent), version, Talos >= 1.5", () => {
    expect(TALOS_EXTENSION).not.toBe("xen-guest-agent");
    for (const arch of ARCHS) {
      const manifest = Bun.YAML.parse(readFileSync(join(DIST, "talos", arch, "manifest.yaml"), "utf8")) as any;
      expect(manifest).toMatchObject({ version: "v1alpha1", metadata: { name: TALOS_EXTENSION, version: VERSION, compatibility: { talos: { version: ">= v1.5.0" } } } });
      expect(manifest.metadata.description).toContain("install only one of the two");
    }
  });

  test("siderolabs' extension checks pass for both trees (Talos 1.5.0 and 1.11.0)", () => {
    for (const arch of ARCHS) for (const talosVersion of ["1.5.0", "1.11.0"]) {
      expect(extensionProblems(join(DIST, "talos", arch), { pkgName: TALOS_EXTENSION, talosVersion })).toEqual([]);
    }
  });

  test("the checks can fail: Talos too old, a stray file, a world-writable file, a file outside /usr/local, a bad spec", () => {
    const tree = tempDir("talos-bad");
    dirs.push(tree);
    cpSync(join(DIST, "talos/x86_64"), tree, { recursive: true });
    const problems = () => extensionProblems(tree, { pkgName: TALOS_EXTENSION, talosVersion: "1.5.0" });
    expect(extensionProblems(tree, { pkgName: TALOS_EXTENSION, talosVersion: "1.4.9" })).toEqual(["version constraint >= v1.5.0 can't be satisfied with Talos version 1.4.9"]);
    expect(extensionProblems(tree, { pkgName: "xen-guest-agent", talosVersion: "1.5.0" })).toEqual([`pkg name does not match extension name: xen-guest-agent != ${TALOS_EXTENSION}`]);
    writeFileSync(join(tree, "README"), "");
    chmodSync(join(tree, CONTAINER, "xen-guest-agent"), 0o757);
    writeFileSync(join(tree, "rootfs/etc-file"), "");
    const spec = join(tree, SPEC);
    writeFileSync(spec, readFileSync(spec, "utf8").replace("restart: always", "restart: sometimes").replace("- path: /dev/xen/xenbus", "- path: dev/xen/xenbus"));
    expect(problems()).toEqual([
      'unexpected file "README"',
      `service spec ${TALOS_EXTENSION}.yaml: restart kind is invalid: sometimes`,
      `service spec ${TALOS_EXTENSION}.yaml: path is not absolute: "dev/xen/xenbus"`,
      'path "/etc-file" is not allowed in extensions',
      `world-writeable files are not allowed: "/usr/local/lib/containers/${TALOS_EXTENSION}/xen-guest-agent"`,
    ]);
    // The container root must be named after the service.
    renameSync(join(tree, CONTAINER), join(tree, "rootfs/usr/local/lib/containers/xen-guest-agent"));
    expect(problems()).toContain(`service spec ${TALOS_EXTENSION}.yaml: no entrypoint xen-guest-agent in /usr/local/lib/containers/${TALOS_EXTENSION}/`);
  });

  test("service spec: ./xen-guest-agent -s, read-only rootfs and sysfs, restart always, waits for xenbus and addresses", () => {
    const spec = Bun.YAML.parse(readFileSync(join(DIST, "talos/x86_64", SPEC), "utf8")) as any;
    expect(spec.name).toBe(TALOS_EXTENSION); // Talos calls it ext-xen-guest-agent-ts
    expect(spec.container.entrypoint).toBe("./xen-guest-agent");
    expect(spec.container.args).toEqual(["-s", "--root", "/host"]);
    expect(spec.container.security).toEqual({ writeableRootfs: false, writeableSysfs: false });
    expect(spec.restart).toBe("always");
    expect(spec.depends).toEqual([{ path: "/dev/xen/xenbus" }, { network: ["addresses"] }]);
    // The mount point exists in the (read-only) container root; the others are inside the node's tree.
    expect(statSync(join(DIST, "talos/x86_64", CONTAINER, "host")).isDirectory()).toBe(true);
  });

  test("mounts: the node's root recursively read-only (rro, rprivate); writable only the vCPU directory and pm_freeze_timeout", () => {
    const spec = Bun.YAML.parse(readFileSync(join(DIST, "talos/x86_64", SPEC), "utf8")) as any;
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
    for (const arch of ARCHS) {
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

  const podman = Bun.which("podman");
  const podmanWhy = !podman ? "podman is not installed" : process.getuid?.() !== 0 ? "not root (podman with a scratch store)" : undefined;
  if (podmanWhy) skipped("Talos images imported as documented", podmanWhy);
  test.skipIf(podmanWhy !== undefined)("docs/install.md's podman commands label each image with its own platform (aarch64: linux/arm64) and list both", () => {
    const docs = readFileSync(join(REPO, "docs/install.md"), "utf8");
    const section = docs.slice(docs.indexOf("## Talos\n"));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    // Everything but the push (no registry here), as a packager types it.
    const commands = block.split("\n").filter((l) => l.startsWith("podman ") && !l.includes(" push "));
    const imports = commands.filter((l) => l.startsWith("podman import "));
    expect(imports.length).toBe(ARCHS.length);
    const store = tempDir("podman");
    dirs.push(store);
    const global = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--cgroup-manager=cgroupfs", "--events-backend=file"];
    const podmanRun = (args: string[]) => {
      const r = Bun.spawnSync([podman as string, ...global, ...args], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`podman ${args.join(" ")} failed (exit ${r.exitCode}):\n${r.stderr}`);
      return r.stdout.toString();
    };
    for (const c of commands) podmanRun(c.split(/\s+/).slice(1));
    for (const arch of ARCHS) {
      const line = imports.find((l) => l.includes(`-${VERSION}-${arch}.tar`));
      expect(line).toBeDefined();
      const image = (line as string).split(/\s+/).at(-1) as string;
      expect(podmanRun(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image]).trim()).toBe(`linux/${OCI_ARCH[arch]}`);
    }
    const list = commands.find((l) => l.startsWith("podman manifest create "))?.split(/\s+/).at(-1) as string;
    const platforms = JSON.parse(podmanRun(["manifest", "inspect", list])).manifests.map((m: any) => `${m.platform.os}/${m.platform.architecture}`);
    expect(platforms.sort()).toEqual(ARCHS.map((a) => `linux/${OCI_ARCH[a]}`).sort());
  }, 120_000);
});
