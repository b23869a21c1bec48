// statvfs must answer for the file system the mount table names. In a container whose host root is
// a private, recursively read-only copy (the DaemonSet, the Talos extension), a file system the
// host mounts later is in the host's table (proc/1/mountinfo is live) but not under /host, so the
// directory there belongs to the parent file system: its size is not the new volume's.
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, statSync } from "node:fs";
import { HostRoot } from "../../../src/collectors/host-root.ts";
import { collectVolumesOnce } from "../../../src/collectors/volumes/collector.ts";
import { deviceNumbers } from "../../../native/host-files.ts";
import { collectingLogger } from "../network/support/netns.ts";
import { FixtureRoot } from "./fixture-root.ts";

let fx: FixtureRoot | undefined;
afterEach(() => fx?.remove());

test("a mount point whose directory is another file system than the table says gets no size, with a warning", () => {
  fx = new FixtureRoot();
  // The fixture's own file system, as the kernel numbers it.
  const { major, minor } = deviceNumbers(statSync(fx.dir, { bigint: true }).dev);
  if (major === 0) {
    console.log(`skip: ${fx.dir} is on an anonymous device (major 0), which the check leaves alone`);
    return;
  }
  fx.device({ name: "xvda1", major, minor, sectors: 2048 }).device({ name: "xvdb", major: 202, minor: 16, sectors: 4096 });
  // /data is a plain directory of the root's file system: the table says xvdb is mounted there.
  mkdirSync(`${fx.dir}/data`);
  fx.mountinfo(`26 1 ${major}:${minor} / / rw - ext4 /dev/xvda1 rw\n31 26 202:16 / /data rw - ext4 /dev/xvdb rw\n`, "proc/1/mountinfo");
  const log = collectingLogger();
  const volumes = collectVolumesOnce(new HostRoot(fx.dir), log).volumes;
  const by = new Map(volumes.map((v) => [v.device, v]));
  expect(by.get("xvda1")?.fsSizeBytes).toBeGreaterThan(0);
  expect(by.get("xvdb")).toMatchObject({ sizeBytes: 4096 * 512, fsSizeBytes: null, freeBytes: null, mountPoints: ["/data"] });
  const warned = log.lines.filter((l) => l.message.includes(`${fx!.dir}/data is device ${major}:${minor}, the mount table says 202:16`));
  expect(warned).toHaveLength(1);
});
