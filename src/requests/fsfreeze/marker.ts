// The "frozen" marker: which filesystems this agent froze, kept where a crash leaves it and a
// frozen filesystem cannot block writing it. The next start thaws what it lists
// (recoverAfterCrash in service.ts), then removes it.
//
// Why a file, when the agent otherwise writes none: the kernel cannot be asked whether a
// filesystem is frozen (no flag in mountinfo or sysfs for ext4/xfs), and thawing every filesystem
// at start would also thaw a freeze someone else made (`fsfreeze -f` before an LVM snapshot).
// xenstore was the other candidate, but it is not there while the connection is lost, which is
// one of the moments a thaw must happen. The file lives on a tmpfs (/run/xen-guest-agent by
// default: gone at reboot, when nothing is frozen any more), and a freeze is refused when it would
// sit on one of the filesystems being frozen.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { FrozenMount } from "./machine.ts";

export const DEFAULT_MARKER_PATH = "/run/xen-guest-agent/fsfreeze.json";

export interface MarkerStore {
  /** Throws with the reason when the marker cannot be written (then nothing is frozen). */
  write(mounts: readonly FrozenMount[]): void;
  read(): FrozenMount[] | undefined;
  remove(): void;
  /** `major:minor` of the filesystem the marker lives on. */
  device(): string;
}

/** Linux dev_t → `major:minor` (glibc's gnu_dev_major/minor). */
export function deviceName(dev: number | bigint): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

export class FileMarker implements MarkerStore {
  constructor(readonly path: string = DEFAULT_MARKER_PATH) {}

  write(mounts: readonly FrozenMount[]): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, mounts })}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  read(): FrozenMount[] | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return undefined;
    }
    try {
      const mounts = (JSON.parse(text) as { mounts?: unknown }).mounts;
      if (!Array.isArray(mounts)) return [];
      return mounts.filter((m): m is FrozenMount => typeof m?.mountPoint === "string" && typeof m?.device === "string");
    } catch {
      return [];
    }
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }

  device(): string {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    return deviceName(statSync(dirname(this.path), { bigint: true }).dev);
  }
}
