// System facts that only a libc call gives.
import { check, libc } from "./libc.ts";

// struct utsname on Linux: six NUL-terminated fields of 65 bytes (sysname, nodename, release,
// version, machine, domainname); `release` starts at byte 130.
const UTS_FIELD = 65;
const UTS_RELEASE = 2 * UTS_FIELD;

/** The running kernel's release (`uname -r`). */
export function kernelRelease(): string {
  const buf = new Uint8Array(6 * UTS_FIELD);
  check(libc().uname(buf), "uname");
  const field = buf.subarray(UTS_RELEASE, UTS_RELEASE + UTS_FIELD);
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? UTS_FIELD : end)).toString("latin1");
}

// struct tm is 56 bytes on 64-bit glibc and musl; asctime_r writes at most 26 bytes.
const TM_SIZE = 64;
const ASCTIME_SIZE = 32;

/**
 * `when` as C asctime() prints it in local time, without the newline: `Mon Jan  2 15:04:05 2006`
 * (English names whatever the locale; the zone from TZ or /etc/localtime, as C programs see it).
 * Through libc rather than Date's local-time methods: those load ICU's time-zone code and data,
 * about 3 MB of RSS (1 MB of it anonymous) for one string a minute (docs/performance.md).
 */
export function asctimeLocal(when: Date): string {
  const c = libc();
  const t = new BigInt64Array([BigInt(Math.floor(when.getTime() / 1000))]);
  const tm = new Uint8Array(TM_SIZE);
  const out = new Uint8Array(ASCTIME_SIZE);
  if (c.localtime_r(t, tm) === null || c.asctime_r(tm, out) === null) throw new Error("localtime_r/asctime_r failed");
  const end = out.indexOf(0x0a);
  return Buffer.from(out.subarray(0, end < 0 ? out.indexOf(0) : end)).toString("latin1");
}
