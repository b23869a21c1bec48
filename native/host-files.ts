// Host files under a root directory (`--root`), opened so that no file there can block, exhaust or
// mislead the agent:
//
// - every open is O_NONBLOCK|O_CLOEXEC: a FIFO does not wait for a writer (read side) or a reader
//   (write side: ENXIO);
// - only regular files are read or written (fstat after the open): procfs and sysfs attributes are
//   regular files, so a FIFO, a character device (`/dev/zero`) or a socket put there is refused;
// - at most `cap` bytes are read, whatever the file claims (st_size is 0 in procfs, 4096 in sysfs);
// - symbolic links resolve inside the root, as they would for a process chrooted there:
//   openat2(2) with RESOLVE_IN_ROOT (Linux 5.6; it also refuses procfs magic links), and on older
//   kernels (ENOSYS, or EPERM from a container's seccomp filter that does not know openat2) a walk
//   of the path one component at a time with lstat/readlink, `..` stopping at the root, the last
//   step opened with O_NOFOLLOW. The walk is not proof against a root that is changed while it is
//   walked; openat2 is.
//
// - the xenbus device is the one exception to "regular files only": opened read-write, blocking,
//   and only if it is the kind of file its path should be.
//
// With the root `/` the kernel's own resolution is already "inside the root": plain open().
//
// Longer than 300 lines: the resolution (openat2, and the walk where it is missing) and every kind
// of open that must use it live together, so no host path can be opened around it.
import { fstatSync, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { CString, type Pointer } from "bun:ffi";
import { fstatvfs, type FsUsage } from "./statvfs.ts";
import { check, cstr, Errno, errno, libc, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, SystemError } from "./libc.ts";

const O_WRONLY = 1;
const O_PATH = 0o10000000;
const arm64 = process.arch === "arm64";
const O_DIRECTORY = arm64 ? 0o40000 : 0o200000;
const O_NOFOLLOW = arm64 ? 0o100000 : 0o400000;
/** The same number on every architecture (the syscall table was unified before 5.6). */
const SYS_openat2 = 437;
const RESOLVE_IN_ROOT = 0x10;
/** struct dirent on 64-bit glibc and musl: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name. */
const D_NAME = 19;
/** Symbolic links followed in one resolution, as the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

/** major:minor of a dev_t, as glibc's major()/minor() split it. */
export function deviceNumbers(dev: bigint): { major: number; minor: number } {
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)),
  };
}

/** A host file that is there but not a regular file (FIFO, device, socket, directory). */
export class NotRegularFileError extends Error {
  constructor(readonly path: string, readonly kind: string) {
    super(`${path} is a ${kind}, not a regular file; not read`);
    this.name = "NotRegularFileError";
  }
}

/** A host path that is not of the kind wanted (the xenbus device). */
export class WrongFileKindError extends Error {
  constructor(readonly path: string, readonly kind: FileKind, wanted: readonly FileKind[]) {
    super(`${path} is a ${kind}, not a ${wanted.join(" or ")}; not opened`);
    this.name = "WrongFileKindError";
  }
}

export interface HostFileBytes {
  bytes: Buffer;
  /** The file had more than `cap` bytes; `bytes` holds the first `cap`. */
  truncated: boolean;
}

export type Resolution = "openat2" | "walk";

/** Which resolution openat2-less kernels fall back to is decided once per process. */
let openat2Works: boolean | undefined;

export type FileKind = "regular file" | "FIFO" | "character device" | "block device" | "socket" | "directory" | "special file";

function fileKind(st: ReturnType<typeof fstatSync>): FileKind {
  if (st.isFile()) return "regular file";
  if (st.isFIFO()) return "FIFO";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  if (st.isSocket()) return "socket";
  if (st.isDirectory()) return "directory";
  return "special file";
}

/** Relative path components of `rel` (leading `/` ignored: everything is under the root). */
function components(rel: string): string[] {
  return rel.split("/").filter((c) => c !== "" && c !== ".");
}

export class HostFiles {
  private rootFd: number | undefined;
  private readonly resolution: Resolution | undefined;

  /** `resolution`: tests force the fallback walk; by default openat2 where the kernel has it. */
  constructor(readonly root: string, opts: { resolution?: Resolution } = {}) {
    this.resolution = opts.resolution;
  }

  /** Reads at most `cap` bytes of the regular file `rel`. Throws SystemError or NotRegularFileError. */
  read(rel: string, cap: number): HostFileBytes {
    const fd = this.open(rel, O_RDONLY);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new NotRegularFileError(rel, fileKind(st));
      // One byte beyond the cap tells a file of exactly `cap` bytes from a longer one.
      const want = cap + 1;
      let buf = Buffer.allocUnsafe(Math.min(want, Math.max(4096, st.size + 1)));
      let len = 0;
      const c = libc();
      while (len < want) {
        if (len === buf.length) {
          const bigger = Buffer.allocUnsafe(Math.min(want, buf.length * 2));
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
        }
        const n = Number(c.read(fd, buf.subarray(len), buf.length - len));
        if (n < 0) {
          const e = errno();
          if (e === Errno.EINTR) continue;
          throw new SystemError(`read(${rel})`, e);
        }
        if (n === 0) break;
        len += n;
      }
      const truncated = len > cap;
      return { bytes: buf.subarray(0, Math.min(len, cap)), truncated };
    } finally {
      libc().close(fd);
    }
  }

  /**
   * Opens the device `rel` read-write (the xenbus device under `--root /host`), resolved inside
   * the root like every read; the caller owns the fd. Blocking, as the device is used. `kinds`:
   * what `rel` may be (xenfs's /proc/xen/xenbus is a regular file, /dev/xen/xenbus a character
   * device). Throws SystemError, or WrongFileKindError when `rel` is something else.
   */
  openDevice(rel: string, kinds: readonly FileKind[]): number {
    const fd = this.openFlags(rel, O_RDWR, rel);
    const kind = fileKind(fstatSync(fd));
    if (kinds.includes(kind)) return fd;
    libc().close(fd);
    throw new WrongFileKindError(rel, kind, kinds);
  }

  /** Writes `text` to the regular file `rel` (a sysfs attribute). Throws as read() does. */
  write(rel: string, text: string): void {
    const fd = this.open(rel, O_WRONLY);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new NotRegularFileError(rel, fileKind(st));
      const data = Buffer.from(text, "utf8");
      const n = Number(libc().write(fd, data, data.length));
      if (n < 0) throw new SystemError(`write(${rel})`, errno());
      if (n !== data.length) throw new SystemError(`write(${rel})`, Errno.EIO, `short write (${n} of ${data.length} bytes)`);
    } finally {
      libc().close(fd);
    }
  }

  /** The target of the symbolic link `rel` (its directories resolved inside the root). */
  readLink(rel: string): string {
    const parts = components(rel);
    const name = parts.pop();
    if (name === undefined || name === "..") throw new SystemError(`readlink(${rel})`, Errno.EINVAL);
    const dir = this.openDirectory(parts.join("/"), rel);
    try {
      const buf = Buffer.allocUnsafe(4096);
      const n = check(libc().readlinkat(dir, cstr(name), buf, buf.length), `readlink(${rel})`);
      return buf.subarray(0, n).toString("utf8");
    } finally {
      libc().close(dir);
    }
  }

  /** The names in the directory `rel` (without `.` and `..`), resolved inside the root. */
  list(rel: string): string[] {
    const c = libc();
    const fd = this.openFlags(rel === "" ? "." : rel, O_RDONLY | O_DIRECTORY | O_NONBLOCK, rel);
    const dir = c.fdopendir(fd);
    if (dir === null) {
      const e = errno();
      c.close(fd);
      throw new SystemError(`opendir(${rel})`, e);
    }
    try {
      const names: string[] = [];
      for (let entry = c.readdir(dir); entry !== null; entry = c.readdir(dir)) {
        const name = new CString(entry as Pointer, D_NAME).toString();
        if (name !== "." && name !== "..") names.push(name);
      }
      return names;
    } finally {
      c.closedir(dir); // closes fd as well
    }
  }

  /** Space on the filesystem at the directory `rel` (a mount point), resolved inside the root. */
  usage(rel: string): FsUsage {
    const fd = this.openDirectory(components(rel).join("/"), rel);
    try {
      return { ...fstatvfs(fd, rel), device: deviceNumbers(fstatSync(fd, { bigint: true }).dev) };
    } finally {
      libc().close(fd);
    }
  }

  /** Opens the file `rel` (for a watch, say) the same way read() does; the caller owns the fd. */
  openReadable(rel: string): number {
    const fd = this.open(rel, O_RDONLY);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new NotRegularFileError(rel, fileKind(st));
      return fd;
    } catch (e) {
      libc().close(fd);
      throw e;
    }
  }

  /** Closes the root's directory fd (reopened on next use). */
  close(): void {
    if (this.rootFd !== undefined) libc().close(this.rootFd);
    this.rootFd = undefined;
  }

  /** Which resolution this root uses (after the first open). */
  resolutionInUse(): Resolution | "kernel" {
    if (this.isSlash()) return "kernel";
    return this.resolution ?? (openat2Works === false ? "walk" : "openat2");
  }

  private isSlash(): boolean {
    return components(this.root).length === 0 && this.root.startsWith("/");
  }

  private openDirectory(rel: string, what: string): number {
    return this.openFlags(rel === "" ? "." : rel, O_PATH | O_DIRECTORY, what);
  }

  private open(rel: string, flags: number): number {
    return this.openFlags(rel, flags | O_NONBLOCK, rel);
  }

  private openFlags(rel: string, flags: number, what: string): number {
    flags |= O_CLOEXEC;
    const c = libc();
    if (this.isSlash()) return check(c.open(cstr(`/${components(rel).join("/")}`), flags, 0), `open(${what})`);
    if (this.resolution !== "walk" && openat2Works !== false) {
      const fd = this.openat2(rel, flags);
      if (fd >= 0) {
        openat2Works = true;
        return fd;
      }
      const e = errno();
      const missing = e === Errno.ENOSYS || (e === Errno.EPERM && openat2Works === undefined && this.openat2Missing());
      if (!missing || this.resolution === "openat2") throw new SystemError(`open(${what})`, e);
      openat2Works = false;
    }
    const real = this.walk(rel, what);
    return check(c.open(cstr(real), flags | O_NOFOLLOW, 0), `open(${what})`);
  }

  /** EPERM from openat2 on the root itself means a filter refuses the call, not this path. */
  private openat2Missing(): boolean {
    if (this.openat2(".", O_PATH | O_DIRECTORY | O_CLOEXEC) >= 0) return false;
    return errno() === Errno.EPERM || errno() === Errno.ENOSYS;
  }

  private openat2(rel: string, flags: number): number {
    // struct open_how { __u64 flags; __u64 mode; __u64 resolve; } (include/uapi/linux/openat2.h)
    const how = new BigUint64Array([BigInt(flags), 0n, BigInt(RESOLVE_IN_ROOT)]);
    const fd = Number(libc().syscall(SYS_openat2, this.rootDirFd(), cstr(rel), how, 24));
    return fd;
  }

  private rootDirFd(): number {
    this.rootFd ??= check(libc().open(cstr(this.root), O_PATH | O_DIRECTORY | O_CLOEXEC, 0), `open(${this.root})`);
    return this.rootFd;
  }

  /**
   * The real path of `rel` with every symbolic link on the way resolved inside the root: absolute
   * targets start again at the root, `..` never climbs above it. The last component is resolved
   * too unless it is the end of the walk's input (the caller opens it with O_NOFOLLOW).
   */
  private walk(rel: string, what: string): string {
    const pending = components(rel);
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const c = pending.shift() as string;
      if (c === "..") {
        resolved.pop();
        continue;
      }
      const real = join(this.root, ...resolved, c);
      let isLink = false;
      try {
        isLink = lstatSync(real).isSymbolicLink();
      } catch (e) {
        const code = (e as { code?: string }).code ?? "EIO";
        throw new SystemError(`open(${what})`, Errno[code as keyof typeof Errno] ?? Errno.EIO, code);
      }
      if (!isLink) {
        resolved.push(c);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw new SystemError(`open(${what})`, Errno.ELOOP);
      const target = readlinkSync(real);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...components(target));
    }
    return join(this.root, ...resolved);
  }
}
