// Every host path the agent reads goes through a HostRoot, so tests point it at a fixture tree and a
// container points it at the host's root mounted under /host (`--root /host`). Reads never block
// (a FIFO is refused, not waited on), never read more than their cap, read only regular files and
// resolve symbolic links inside the root (native/host-files.ts).
import { join } from "node:path";
import { HostFiles, type FileKind, type FsUsage, type Resolution } from "../../native/index.ts";

/** Files in /proc and /sys are small; anything bigger than this is junk and is cut. */
export const MAX_TEXT_BYTES = 1 << 20;

export interface HostText {
  text: string;
  /** The file was longer than the cap; `text` is its beginning. */
  truncated: boolean;
}

export class HostRoot {
  private readonly files: HostFiles;

  /** `resolution`: tests force the walk used on kernels without openat2. */
  constructor(readonly root: string = "/", opts: { resolution?: Resolution } = {}) {
    this.files = new HostFiles(root, opts);
  }

  /** The real path of `rel` (`proc/meminfo`, `sys/class/net/eth0/address`…) under this root, for messages. */
  path(rel: string): string {
    return join(this.root, rel);
  }

  /**
   * The text of the regular file `rel`, at most `cap` bytes. Throws (SystemError,
   * NotRegularFileError) with a message that names the file: for callers that say why.
   */
  read(rel: string, cap: number = MAX_TEXT_BYTES): HostText {
    const { bytes, truncated } = this.files.read(rel, cap);
    return { text: bytes.toString("utf8"), truncated };
  }

  /**
   * The text of a file, or undefined when it does not exist, cannot be read or is not a regular
   * file. Reads at most 1 MiB: a hostile or broken file cannot make the agent allocate without bound.
   */
  readText(rel: string): string | undefined {
    try {
      return this.read(rel).text;
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
      return this.files.readLink(rel);
    } catch {
      return undefined;
    }
  }

  /** The names in a directory (sysfs `slaves/`, `dev/disk/by-uuid`), or [] when it cannot be listed. */
  list(rel: string): string[] {
    try {
      return this.files.list(rel);
    } catch {
      return [];
    }
  }

  /** Space on the filesystem mounted at `rel` (statvfs, the mount point resolved inside the root). Throws. */
  usage(rel: string): FsUsage {
    return this.files.usage(rel);
  }

  /** Writes a sysfs attribute (a regular file, opened non-blocking). Throws with the file's name. */
  write(rel: string, text: string): void {
    this.files.write(rel, text);
  }

  /** Opens the device `rel` read-write (the xenbus device), resolved inside the root, if it is one of `kinds`. Throws. */
  openDevice(rel: string, kinds: readonly FileKind[]): number {
    return this.files.openDevice(rel, kinds);
  }

  /** Opens `rel` for a poll() watch (the mount table); the caller owns the fd. Throws. */
  openForWatch(rel: string): number {
    return this.files.openReadable(rel);
  }
}
