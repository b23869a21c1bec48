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
