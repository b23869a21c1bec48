// Every host path the agent reads goes through a HostRoot, so tests point it at a fixture tree and a
// container points it at the host's root mounted under /host (`--root /host`).
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/** Files in /proc and /sys are small; anything bigger than this is junk and is cut. */
const MAX_TEXT_BYTES = 1 << 20;

export class HostRoot {
  constructor(readonly root: string = "/") {}

  /** The real path of `rel` (`proc/meminfo`, `sys/class/net/eth0/address`…) under this root. */
  path(rel: string): string {
    return join(this.root, rel);
  }

  /**
   * The text of a file, or undefined when it does not exist or cannot be read. Reads at most
   * 1 MiB: a hostile or broken file cannot make the agent allocate without bound.
   */
  readText(rel: string): string | undefined {
    try {
      const buf = readFileSync(this.path(rel));
      const cut = buf.length > MAX_TEXT_BYTES ? buf.subarray(0, MAX_TEXT_BYTES) : buf;
      return cut.toString("utf8");
    } catch {
      return undefined;
    }
  }

  /** First line of a file with surrounding white space removed (sysfs attributes), or undefined. */
  readLine(rel: string): string | undefined {
    const text = this.readText(rel);
    if (text === undefined) return undefined;
    return (text.split("\n", 1)[0] ?? "").trim();
  }

  /** The target of a symbolic link, or undefined. */
  readLink(rel: string): string | undefined {
    try {
      return readlinkSync(this.path(rel));
    } catch {
      return undefined;
    }
  }
}
