// Path rules checked before anything is sent, so a bad path is a clear EINVAL naming the path
// instead of a daemon error (or a killed connection). Rules from xs_wire.h and
// docs/misc/xenstore.txt: characters `A-Za-z0-9-/_@`, absolute paths ≤ XENSTORE_ABS_PATH_MAX
// (3072) bytes, relative ones ≤ XENSTORE_REL_PATH_MAX (2048); no empty path, no `//`, no trailing
// `/` except the root itself. `@` starts the special watch names (`@introduceDomain`).
import { ABS_PATH_MAX, REL_PATH_MAX } from "./codec.ts";

const ALLOWED = /^[A-Za-z0-9\-/_@]+$/;

/** Why `path` is not a valid xenstore path, or undefined when it is. */
export function pathProblem(path: string): string | undefined {
  if (path === "") return "empty path";
  if (!ALLOWED.test(path)) return "characters outside A-Za-z0-9-/_@";
  const absolute = path.startsWith("/");
  const max = absolute ? ABS_PATH_MAX : REL_PATH_MAX;
  if (path.length > max) return `longer than ${max} bytes`;
  if (path === "/") return undefined;
  if (path.includes("//")) return "empty component (//)";
  if (path.endsWith("/")) return "trailing /";
  return undefined;
}

/** True for `@introduceDomain`-style names, valid only as watch paths. */
export function isSpecialPath(path: string): boolean {
  return path.startsWith("@");
}

/** A domain's home: `/local/domain/<domid>` (what GET_DOMAIN_PATH answers). */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** `path` made absolute against a domain's home (how xenstored resolves relative paths). */
export function resolvePath(path: string, domid: number): string {
  if (path.startsWith("/") || isSpecialPath(path)) return path;
  return `${domainPath(domid)}/${path}`;
}

/** The parent of an absolute path (`/a/b` → `/a`, `/a` → `/`), undefined for the root. */
export function parentPath(path: string): string | undefined {
  if (path === "/") return undefined;
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** True when `path` is `ancestor` or below it. */
export function isUnder(path: string, ancestor: string): boolean {
  if (ancestor === "/") return path.startsWith("/");
  return path === ancestor || path.startsWith(`${ancestor}/`);
}
