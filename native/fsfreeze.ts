// FIFREEZE / FITHAW (include/uapi/linux/fs.h): freeze a mounted filesystem so its on-disk image is
// consistent and stays still, and thaw it again. Both act on the superblock of whatever file the
// descriptor is open on, so the caller passes a mount point; both need CAP_SYS_ADMIN.
//
//   FIFREEZE = _IOWR('X', 119, int) = 0xc0045877     FITHAW = _IOWR('X', 120, int) = 0xc0045878
//
// The kernel flushes dirty data and the journal before FIFREEZE returns, so the call can take a
// while on a busy filesystem; it blocks only the calling thread. Answers that mean "it already is
// so" are told apart here, because every caller treats them the same way (fs/ioctl.c,
// fs/super.c freeze_super/thaw_super): EBUSY from FIFREEZE (frozen already: the same filesystem
// reached through a second mount point or a btrfs subvolume, or frozen by someone else), EINVAL
// from FITHAW (not frozen).
import { check, cstr, errno, Errno, libc, O_CLOEXEC, O_RDONLY, SystemError } from "./libc.ts";

const FIFREEZE = 0xc0045877;
const FITHAW = 0xc0045878;

/** `done`: this call changed the state; `already`: the filesystem was in that state before. */
export type FreezeOutcome = "done" | "already";

function fsIoctl(path: string, request: number, name: string, alreadyErrno: number): FreezeOutcome {
  const c = libc();
  // O_RDONLY works on directories and never creates or writes anything on a frozen filesystem.
  const fd = check(c.open(cstr(path), O_RDONLY | O_CLOEXEC, 0), `open ${path}`);
  try {
    if (c.ioctl(fd, request, 0) === 0) return "done";
    const err = errno();
    if (err === alreadyErrno) return "already";
    throw new SystemError(`${name} ${path}`, err);
  } finally {
    c.close(fd);
  }
}

/** Freezes the filesystem mounted at `path`. Throws SystemError (EPERM, EOPNOTSUPP…). */
export function freezeFilesystem(path: string): FreezeOutcome {
  return fsIoctl(path, FIFREEZE, "FIFREEZE", Errno.EBUSY);
}

/** Thaws the filesystem mounted at `path`. Throws SystemError. */
export function thawFilesystem(path: string): FreezeOutcome {
  return fsIoctl(path, FITHAW, "FITHAW", Errno.EINVAL);
}
