// Builds a fake host root with just enough sysfs, /dev and /proc for the volumes code.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface FakeDevice {
  name: string;
  major: number;
  minor: number;
  /** 512-byte sectors. */
  sectors?: number;
  /** Whole disk of a partition. */
  disk?: string;
  /** xenbus node name of a whole disk: `device/vbd/51712`. */
  nodename?: string;
  dmName?: string;
  slaves?: string[];
  uuid?: string;
}

export class FixtureRoot {
  readonly dir = mkdtempSync(join(tmpdir(), "xga-volumes-"));

  file(rel: string, text: string): this {
    const p = join(this.dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    return this;
  }

  link(rel: string, target: string): this {
    const p = join(this.dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
    symlinkSync(target, p);
    return this;
  }

  /**
   * Bind-mounts the real file `source` (a procfs file) at `rel`: symbolic links resolve inside
   * the root, so a real kernel file can only be reached this way. Needs root; returns the unmount.
   */
  bindFile(rel: string, source: string): () => void {
    this.file(rel, "");
    const p = join(this.dir, rel);
    const r = Bun.spawnSync(["mount", "--bind", source, p]);
    if (r.exitCode !== 0) throw new Error(`mount --bind ${source} ${p}: ${r.stderr.toString()}`);
    // Lazy: a watch may still hold the file open while it stops.
    return () => void Bun.spawnSync(["umount", "-l", p]);
  }

  mountinfo(text: string, rel = "proc/self/mountinfo"): this {
    return this.file(rel, text);
  }

  /** Adds a block device the way the kernel lays it out under /sys/devices. */
  device(d: FakeDevice): this {
    const devDir = d.disk ? `sys/devices/virtual/blk/block/${d.disk}/${d.name}` : `sys/devices/virtual/blk/block/${d.name}`;
    this.file(`${devDir}/dev`, `${d.major}:${d.minor}\n`);
    if (d.sectors !== undefined) this.file(`${devDir}/size`, `${d.sectors}\n`);
    if (d.disk) this.file(`${devDir}/partition`, "1\n");
    if (d.nodename) this.file(`${devDir}/device/nodename`, `${d.nodename}\n`);
    if (d.dmName) this.file(`${devDir}/dm/name`, `${d.dmName}\n`);
    for (const s of d.slaves ?? []) this.link(`${devDir}/slaves/${s}`, `../../${s}`);
    this.link(`sys/class/block/${d.name}`, `../../${devDir.slice(4)}`);
    this.link(`sys/dev/block/${d.major}:${d.minor}`, `../../${devDir.slice(4)}`);
    if (d.uuid) this.link(`dev/disk/by-uuid/${d.uuid}`, `../../${d.name}`);
    return this;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The devices behind test/fixtures/mountinfo/xen-guest.txt. */
export function xenGuestDevices(root: FixtureRoot): FixtureRoot {
  return root
    .device({ name: "xvda", major: 202, minor: 0, sectors: 41943040, nodename: "device/vbd/51712" })
    .device({ name: "xvda1", major: 202, minor: 1, sectors: 39843840, disk: "xvda", uuid: "0b3c1a2e-1111-4c3d-9e55-aaaaaaaaaaaa" })
    .device({ name: "xvda2", major: 202, minor: 2, sectors: 2097152, disk: "xvda" })
    .device({ name: "xvdb", major: 202, minor: 16, sectors: 209715200, nodename: "device/vbd/51728", uuid: "5e1f-data" })
    .device({ name: "xvdc", major: 202, minor: 32, sectors: 8388608, nodename: "device/vbd/51744" })
    .device({ name: "xvdd", major: 202, minor: 48, sectors: 1228800, nodename: "device/vbd/51760" })
    .device({ name: "xvde", major: 202, minor: 64, sectors: 20971520, nodename: "device/vbd/51776" })
    .device({ name: "xvdf", major: 202, minor: 80, sectors: 20971520, nodename: "device/vbd/51792" })
    .device({ name: "dm-0", major: 253, minor: 0, sectors: 41943040, dmName: "vg0-data", slaves: ["xvde", "xvdf"] })
    .device({ name: "loop0", major: 7, minor: 0, sectors: 100000 });
}
