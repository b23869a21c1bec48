// The one place where libc is opened. Every FFI symbol the agent uses is declared here, so the
// whole unsafe surface can be read in one screen. Everything above `native/` sees typed helpers only.
//
// Facts behind the choices (see shared/reference/bun-runtime.md §5):
// - `ssize_t` results are declared `i64` and wrapped in Number();
// - errno is read through `__errno_location()` right after the failing call, on the same thread;
// - TypedArrays are passed straight through as `ptr` arguments.
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";

const { i32, i64, u32, u64, ptr, cstring } = FFIType;

const symbols = {
  socket: { args: [i32, i32, i32], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  connect: { args: [i32, ptr, u32], returns: i32 },
  socketpair: { args: [i32, i32, i32, ptr], returns: i32 },
  pipe2: { args: [ptr, i32], returns: i32 },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
  getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
  getsockname: { args: [i32, ptr, ptr], returns: i32 },
  send: { args: [i32, ptr, u64, i32], returns: i64 },
  sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i64 },
  recv: { args: [i32, ptr, u64, i32], returns: i64 },
  open: { args: [cstring, i32, i32], returns: i32 },
  openat: { args: [i32, cstring, i32, i32], returns: i32 },
  readlinkat: { args: [i32, cstring, ptr, u64], returns: i64 },
  fdopendir: { args: [i32], returns: ptr },
  readdir: { args: [ptr], returns: ptr },
  closedir: { args: [ptr], returns: i32 },
  // syscall(2) is variadic; declared with the one shape the agent uses (openat2: dirfd, path,
  // struct open_how *, size), which x86-64 and aarch64 Linux pass exactly as fixed arguments.
  syscall: { args: [i64, i32, cstring, ptr, u64], returns: i64 },
  read: { args: [i32, ptr, u64], returns: i64 },
  write: { args: [i32, ptr, u64], returns: i64 },
  close: { args: [i32], returns: i32 },
  fcntl: { args: [i32, i32, i32], returns: i32 },
  poll: { args: [ptr, u64, i32], returns: i32 },
  uname: { args: [ptr], returns: i32 },
  getpid: { args: [], returns: i32 },
  clock_gettime: { args: [i32, ptr], returns: i32 },
  timerfd_create: { args: [i32, i32], returns: i32 },
  timerfd_settime: { args: [i32, i32, ptr, ptr], returns: i32 },
  fstatvfs: { args: [i32, ptr], returns: i32 },
  // Variadic in C; every request the agent makes passes an int (or nothing) as the third argument.
  ioctl: { args: [i32, u64, i32], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  madvise: { args: [u64, u64, i32], returns: i32 },
  localtime_r: { args: [ptr, ptr], returns: ptr },
  asctime_r: { args: [ptr, ptr], returns: ptr },
  setenv: { args: [cstring, cstring, i32], returns: i32 },
  unsetenv: { args: [cstring], returns: i32 },
  __errno_location: { args: [], returns: ptr },
} as const;

/** In libc since glibc 2.34 and in musl; in libpthread.so.0 before (which Bun itself links). */
const threadSymbols = {
  pthread_create: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  pthread_detach: { args: [u64], returns: i32 },
  pthread_setname_np: { args: [u64, cstring], returns: i32 },
} as const;

/** Candidate sonames: glibc first, then musl (its libc is the dynamic loader itself). */
function libcCandidates(): string[] {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  return ["libc.so.6", `libc.musl-${arch}.so.1`, `/lib/ld-musl-${arch}.so.1`, "libc.so"];
}

function openFirst<S extends Record<string, { args: readonly FFIType[]; returns: FFIType }>>(names: string[], table: S, what: string) {
  const tried: string[] = [];
  for (const name of names) {
    try {
      return dlopen(name, table);
    } catch (e) {
      tried.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`cannot load ${what} through bun:ffi (tried ${tried.join("; ")})`);
}

const openLibc = () => openFirst(libcCandidates(), symbols, "the C library");
const openThreads = () => openFirst(["libpthread.so.0", ...libcCandidates()], threadSymbols, "pthread_create");

let lib: ReturnType<typeof openLibc> | undefined;
let threadLib: ReturnType<typeof openThreads> | undefined;

/** The libc symbol table, opened on first use (so `--help` never touches FFI). */
export function libc(): ReturnType<typeof openLibc>["symbols"] {
  lib ??= openLibc();
  return lib.symbols;
}

/** pthread_create / pthread_detach, opened on first use. Throws when neither library has them. */
export function pthreads(): ReturnType<typeof openThreads>["symbols"] {
  threadLib ??= openThreads();
  return threadLib.symbols;
}

/** The address of a loaded libc function, for native code that calls it through a pointer. */
export function addressOf(fn: unknown): bigint {
  const p = (fn as { ptr?: number | bigint }).ptr;
  if (p === undefined || p === null) throw new Error("bun:ffi gave no address for a libc function");
  return BigInt(p);
}

/** errno of the last failing call on this thread. */
export function errno(): number {
  return read.i32(libc().__errno_location() as Pointer, 0);
}

// Linux errno numbers the agent names in messages and decisions (x86-64 and arm64 share them):
// the one errno table, used by every file in native/.
export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14,
  EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EMFILE: 24,
  ENOTTY: 25, ENOSPC: 28, ESPIPE: 29, EROFS: 30, EPIPE: 32, ERANGE: 34, ENOSYS: 38, ELOOP: 40,
  ENODATA: 61, ENOTSOCK: 88, EOPNOTSUPP: 95, EPROTONOSUPPORT: 93, EAFNOSUPPORT: 97, EADDRINUSE: 98,
  EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101, ECONNRESET: 104, ENOBUFS: 105, ETIMEDOUT: 110,
  ECONNREFUSED: 111, ECANCELED: 125,
} as const;

export type ErrnoName = keyof typeof Errno;

const ERRNO_NAMES = new Map<number, string>(Object.entries(Errno).map(([name, n]) => [n, name]));

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/** The errno value of a name from the table above (`ECANCELED` → 125). */
export function errnoNumber(name: string): number | undefined {
  return (Errno as Record<string, number>)[name];
}

/** A failed libc call: `code` is the errno name (`ENOENT`), `call` says what was attempted. */
export class SystemError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string = errnoName(errno),
  ) {
    super(`${call}: ${code}`);
    this.name = "SystemError";
  }
}

/** Returns `ret` when it is not negative, else throws a SystemError carrying errno. */
export function check(ret: number | bigint, call: string): number {
  const n = Number(ret);
  if (n < 0) throw new SystemError(call, errno());
  return n;
}

/** A NUL-terminated C string for `cstring` arguments. */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0x80000;
export const SOCK_NONBLOCK = 0x800;
export const AF_UNIX = 1;
export const AF_NETLINK = 16;
export const SOL_SOCKET = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
/** eventfd(2) flags. */
export const EFD_SEMAPHORE = 0x1, EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
const EVENTFD_ONE = new BigUint64Array([1n]);

/** Adds 1 to an eventfd's counter (wakes a poll() on it); false when the write failed. */
export function eventfdAdd(fd: number): boolean {
  return Number(libc().write(fd, EVENTFD_ONE, 8)) === 8;
}

/** poll(2) events (struct pollfd { int fd; short events; short revents; }, 8 bytes). */
export const POLLIN = 0x1, POLLPRI = 0x2, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
