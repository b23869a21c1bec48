// Host reads under a fixture root with real hostile files: FIFOs (mkfifo), a link to /dev/zero, a
// 200 MB sparse regular file, and absolute, relative and `..` symbolic links. Every case runs with
// openat2 (RESOLVE_IN_ROOT) and with the component walk used on kernels before 5.6.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { collectOs } from "../../src/collectors/os-release.ts";

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function fixture(): { dir: string; file(rel: string, text: string): void; link(rel: string, target: string): void; fifo(rel: string): void } {
  const dir = mkdtempSync(join(tmpdir(), "xga-hostroot-"));
  dirs.push(dir);
  const parent = (rel: string) => {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    return p;
  };
  return {
    dir,
    file: (rel, text) => writeFileSync(parent(rel), text),
    link: (rel, target) => symlinkSync(target, parent(rel)),
    fifo: (rel) => {
      const r = Bun.spawnSync(["mkfifo", parent(rel)]);
      if (r.exitCode !== 0) throw new Error(`mkfifo: ${r.stderr.toString()}`);
    },
  };
}

for (const resolution of ["openat2", "walk"] as const) {
  describe(`HostRoot reads (${resolution})`, () => {
    const root = (dir: string) => new HostRoot(dir, { resolution });

    test("a FIFO is refused at once, not waited on", () => {
      const fx = fixture();
      fx.fifo("etc/os-release");
      fx.file("usr/lib/os-release", "ID=debian\n");
      const r = root(fx.dir);
      expect(() => r.read("etc/os-release")).toThrow(/FIFO, not a regular file/);
      expect(r.readText("etc/os-release")).toBeUndefined();
      // os-release falls back to usr/lib/os-release as when etc/os-release is missing.
      expect(collectOs(r, silentLogger).id).toBe("debian");
    });

    test("a link to /dev/zero is refused (a character device), memory does not grow", () => {
      const fx = fixture();
      fx.link("etc/os-release", "/dev/zero");
      const r = root(fx.dir);
      if (process.getuid?.() === 0) {
        // A real zero device inside the root (as a host's /dev is under /host).
        mkdirSync(join(fx.dir, "dev"), { recursive: true });
        expect(Bun.spawnSync(["mknod", join(fx.dir, "dev/zero"), "c", "1", "5"]).exitCode).toBe(0);
        expect(() => r.read("etc/os-release")).toThrow(/character device, not a regular file/);
      } else {
        console.log("skip: mknod needs root; only the real /dev/zero is tried");
      }
      expect(r.readText("etc/os-release")).toBeUndefined();
      expect(() => new HostRoot("/").read("dev/zero")).toThrow(/character device/);
    });

    test("a 200 MB regular file is read only up to the cap", () => {
      const fx = fixture();
      fx.file("etc/os-release", "");
      truncateSync(join(fx.dir, "etc/os-release"), 200 << 20);
      const before = process.memoryUsage().rss;
      const { text, truncated } = root(fx.dir).read("etc/os-release");
      expect(truncated).toBe(true);
      expect(text.length).toBe(1 << 20);
      // Reading it whole would add 200 MB.
      expect(process.memoryUsage().rss - before).toBeLessThan(50 << 20);
    });

    test("a file of exactly the cap is not truncated", () => {
      const fx = fixture();
      fx.file("f", "x".repeat(100));
      expect(root(fx.dir).read("f", 100)).toEqual({ text: "x".repeat(100), truncated: false });
      expect(root(fx.dir).read("f", 99).truncated).toBe(true);
    });

    test("an absolute symlink resolves inside the root, not against the real /", () => {
      const fx = fixture();
      fx.file("usr/lib/os-release", 'ID=fixtureos\nVERSION_ID="7.1"\n');
      fx.link("etc/os-release", "/usr/lib/os-release");
      const real = readFileSync("/usr/lib/os-release", "utf8");
      const r = root(fx.dir);
      expect(r.readText("etc/os-release")).toBe('ID=fixtureos\nVERSION_ID="7.1"\n');
      expect(r.readText("etc/os-release")).not.toBe(real);
      expect(collectOs(r, silentLogger).id).toBe("fixtureos");
    });

    test("a relative symlink and a directory link resolve inside the root", () => {
      const fx = fixture();
      fx.file("usr/lib/os-release", "ID=rel\n");
      fx.link("etc/os-release", "../usr/lib/os-release");
      fx.file("sys/devices/vbd-51712/block/xvda/size", "2048\n");
      fx.link("sys/class/block/xvda", "/sys/devices/vbd-51712/block/xvda");
      const r = root(fx.dir);
      expect(r.readText("etc/os-release")).toBe("ID=rel\n");
      expect(r.readLine("sys/class/block/xvda/size")).toBe("2048");
      expect(r.readLink("sys/class/block/xvda")).toBe("/sys/devices/vbd-51712/block/xvda");
    });

    test("`..` cannot climb out of the root, in a path or in a link", () => {
      const fx = fixture();
      const outside = mkdtempSync(join(tmpdir(), "xga-outside-"));
      dirs.push(outside);
      writeFileSync(join(outside, "secret"), "outside\n");
      const escape = `${"../".repeat(12)}${outside.slice(1)}/secret`;
      fx.link("etc/os-release", escape);
      fx.file(`${outside.slice(1)}/secret`, "inside\n");
      const r = root(fx.dir);
      // `..` above the root stays at the root: the link lands on <root>/<outside>/secret.
      expect(r.readText("etc/os-release")).toBe("inside\n");
      expect(r.readText(`../../${outside}/secret`)).toBe("inside\n");
    });

    test("a directory is listed inside the root, through an absolute link too", () => {
      const fx = fixture();
      fx.file("sys/devices/virtual/block/dm-0/slaves/xvda1", "");
      fx.file("sys/devices/virtual/block/dm-0/slaves/xvdb1", "");
      fx.link("sys/class/block/dm-0", "/sys/devices/virtual/block/dm-0");
      const r = root(fx.dir);
      expect(r.list("sys/class/block/dm-0/slaves").sort()).toEqual(["xvda1", "xvdb1"]);
      expect(r.list("sys/class/block/nope")).toEqual([]);
      // An absolute link lists the root's directory, not the real one: <root>/dev holds only disk/.
      fx.link("dev/disk/by-uuid", "/dev");
      expect(r.list("dev/disk/by-uuid")).toEqual(["disk"]);
    });

    test("free space of a mount point is taken inside the root, not through an absolute link", () => {
      const fx = fixture();
      fx.file("mnt/data/x", "");
      fx.link("srv", "/proc");
      const r = root(fx.dir);
      expect(r.usage("mnt/data").sizeBytes).toBeGreaterThan(0);
      // <root>/proc does not exist; the real /proc must not be measured instead.
      expect(() => r.usage("srv")).toThrow(/ENOENT/);
    });

    test("a symlink loop fails instead of spinning", () => {
      const fx = fixture();
      fx.link("etc/a", "b");
      fx.link("etc/b", "a");
      expect(root(fx.dir).readText("etc/a")).toBeUndefined();
    });

    test("a write to a FIFO fails at once (no reader), a regular file is written", () => {
      const fx = fixture();
      fx.fifo("sys/power/pm_freeze_timeout");
      fx.file("sys/devices/system/cpu/cpu1/online", "0\n");
      const r = root(fx.dir);
      expect(() => r.write("sys/power/pm_freeze_timeout", "300000")).toThrow();
      r.write("sys/devices/system/cpu/cpu1/online", "1");
      expect(readFileSync(join(fx.dir, "sys/devices/system/cpu/cpu1/online"), "utf8")).toBe("1\n");
    });
  });
}

describe("HostRoot on the real root", () => {
  test("procfs and sysfs files are regular files and are read", () => {
    const r = new HostRoot("/");
    expect(r.readText("proc/meminfo")).toContain("MemTotal:");
    expect(r.readLine("proc/sys/kernel/osrelease")).toBe(readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
  });
});
