// A pure parser for /proc/<pid>/mountinfo (proc_pid_mountinfo(5), Documentation/filesystems/proc.rst
// §3.5). One line per mount:
//
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)     (10)       (11)
//
//   (1) mount ID  (2) parent ID  (3) major:minor of st_dev  (4) root: the directory of the
//   filesystem that forms the root of this mount (not "/" for bind mounts and btrfs subvolumes)
//   (5) mount point, relative to the reader's root  (6) per-mount options  (7) zero or more
//   optional fields `tag[:value]`  (8) a single "-"  (9) filesystem type (`type.subtype` for FUSE)
//   (10) mount source, or "none"  (11) per-superblock options.
//
// The kernel escapes space, tab, newline and backslash in paths and in the source as three-digit
// octal (`\040`, `\011`, `\012`, `\134`: fs/proc_namespace.c, mangle() / seq_path_root()). Any
// `\ooo` is decoded; a lone backslash stays as it is. A line that does not have this shape is
// counted and skipped: one bad line never hides the others.

export interface MountEntry {
  id: number;
  parentId: number;
  major: number;
  minor: number;
  /** Field 4, decoded. */
  root: string;
  /** Field 5, decoded. */
  mountPoint: string;
  options: string;
  /** Field 7: `shared:1`, `master:2`, `propagate_from:3`, `unbindable`. */
  optional: string[];
  fsType: string;
  /** Field 10, decoded: `/dev/xvda1`, `tmpfs`, `overlay`, `none`… */
  source: string;
  superOptions: string;
}

export interface ParsedMountinfo {
  mounts: MountEntry[];
  /** Lines that were not mountinfo lines (skipped). */
  malformed: number;
}

/** Decodes the kernel's `\ooo` octal escapes (`\040` → space). */
export function decodeMountField(raw: string): string {
  if (!raw.includes("\\")) return raw;
  return raw.replace(/\\([0-3][0-7]{2})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

const ID = /^\d{1,10}$/;
const DEV = /^(\d{1,10}):(\d{1,10})$/;

/** One line, or undefined when it is not a mountinfo line. */
export function parseMountLine(line: string): MountEntry | undefined {
  // Fields are separated by single spaces; nothing inside a field can be a space (escaped).
  const f = line.split(" ");
  const sep = f.indexOf("-", 6);
  if (sep < 0 || f.length !== sep + 4) return undefined;
  const [id, parent, dev, root, mountPoint, options] = f as [string, string, string, string, string, string];
  const devMatch = DEV.exec(dev);
  if (!ID.test(id) || !ID.test(parent) || !devMatch) return undefined;
  // The root is a path, except for pseudo filesystems such as nsfs (`net:[4026532317]`).
  if (root === "" || !mountPoint.startsWith("/")) return undefined;
  const fsType = f[sep + 1]!;
  if (fsType === "") return undefined;
  return {
    id: Number(id),
    parentId: Number(parent),
    major: Number(devMatch[1]),
    minor: Number(devMatch[2]),
    root: decodeMountField(root),
    mountPoint: decodeMountField(mountPoint),
    options,
    optional: f.slice(6, sep).filter((x) => x !== ""),
    fsType: decodeMountField(fsType),
    source: decodeMountField(f[sep + 2]!),
    superOptions: f[sep + 3]!,
  };
}

export function parseMountinfo(text: string): ParsedMountinfo {
  const mounts: MountEntry[] = [];
  let malformed = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = parseMountLine(line);
    if (m) mounts.push(m);
    else malformed++;
  }
  return { mounts, malformed };
}
