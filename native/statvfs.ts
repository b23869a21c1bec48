// fstatvfs(3) through libc: the only place that knows `struct statvfs`.
//
// Layout on the 64-bit Linux targets (x86-64 and aarch64; glibc and musl agree, checked with
// offsetof() against glibc 2.36 and musl 1.2.3 on x86-64; aarch64 uses the same LP64 generic
// definitions): f_bsize u64 @0, f_frsize @8, f_blocks @16, f_bfree @24, f_bavail @32, f_files @40,
// f_ffree @48, f_favail @56, f_fsid @64, f_flag @72, f_namemax @80; 112 bytes in all.
import { errno, libc, SystemError } from "./libc.ts";

const STATVFS_SIZE = 112;
const F_FRSIZE = 8;
const F_BLOCKS = 16;
const F_BAVAIL = 32;
const F_FLAG = 72;
const ST_RDONLY = 1;

export interface FsUsage {
  /** f_blocks × f_frsize: the filesystem's size. */
  sizeBytes: number;
  /** f_bavail × f_frsize: what an unprivileged user can still write (df's "Available"). */
  freeBytes: number;
  readOnly: boolean;
  /** st_dev of the directory measured (HostFiles.usage), to tell which file system answered. */
  device?: { major: number; minor: number };
}

/** statvfs of an open fd (an O_PATH fd of a directory found inside `--root`); `what` names it. */
export function fstatvfs(fd: number, what: string): FsUsage {
  const buf = new BigUint64Array(STATVFS_SIZE / 8);
  if (libc().fstatvfs(fd, buf) !== 0) throw new SystemError(`statvfs(${what})`, errno());
  return usageOf(buf);
}

function usageOf(buf: BigUint64Array): FsUsage {
  const view = new DataView(buf.buffer);
  const frsize = view.getBigUint64(F_FRSIZE, true);
  const bytes = (n: bigint): number => {
    const v = n * frsize;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  return {
    sizeBytes: bytes(view.getBigUint64(F_BLOCKS, true)),
    freeBytes: bytes(view.getBigUint64(F_BAVAIL, true)),
    readOnly: (view.getBigUint64(F_FLAG, true) & BigInt(ST_RDONLY)) !== 0n,
  };
}
