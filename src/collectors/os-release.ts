// OS identity from os-release(5) and the kernel release.
//
//   PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
//   NAME="Debian GNU/Linux"
//   VERSION_ID="12"
//   ID=debian
//
// The file is a restricted shell-variable assignment list. It is read from the host root, so a
// container started with `--root /host` reports the host, not itself.
import type { OsFacts } from "../facts/facts.ts";
import type { Logger } from "../log/logger.ts";
import type { HostRoot } from "./host-root.ts";
import { kernelRelease, SystemError } from "../../native/index.ts";

/** os-release(5): the first of these that exists is the one. */
const OS_RELEASE_FILES = ["etc/os-release", "usr/lib/os-release"];

/** Longest value kept from one os-release variable: real values are short, junk is cut. */
const MAX_VALUE = 256;

/**
 * Parses os-release text into its variables. Follows os-release(5): `KEY=value`, values optionally
 * in double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes) or single quotes (literal); `#`
 * comments and lines that are not assignments are ignored. Never throws.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const value = unquote(m[2] ?? "");
    if (value !== undefined) vars.set(m[1] as string, value.slice(0, MAX_VALUE));
  }
  return vars;
}

function unquote(raw: string): string | undefined {
  if (raw.startsWith('"')) {
    let out = "";
    for (let i = 1; i < raw.length; i++) {
      const c = raw[i] as string;
      if (c === "\\" && i + 1 < raw.length) {
        const next = raw[i + 1] as string;
        // Only these characters are escapable in double quotes; elsewhere the backslash stays.
        out += '"\\$`'.includes(next) ? next : `\\${next}`;
        i++;
      } else if (c === '"') {
        return out;
      } else {
        out += c;
      }
    }
    return undefined; // unterminated quote: not a valid assignment
  }
  if (raw.startsWith("'")) {
    const end = raw.indexOf("'", 1);
    return end < 0 ? undefined : raw.slice(1, end);
  }
  // Unquoted values end at white space (anything after it is not part of the value).
  return raw.split(/\s/, 1)[0] ?? "";
}

/** The OS facts from os-release variables and a kernel release. */
export function osFactsFrom(vars: Map<string, string>, kernel: string): OsFacts {
  const id = (vars.get("ID") ?? "").toLowerCase().replace(/[^a-z0-9._-]/g, "");
  const name = vars.get("NAME") ?? "";
  const version = vars.get("VERSION") ?? "";
  const pretty = vars.get("PRETTY_NAME") || [name, version].filter(Boolean).join(" ") || "Linux";
  return {
    id: id || "linux",
    name,
    prettyName: pretty,
    versionId: vars.get("VERSION_ID") ?? "",
    kernelRelease: kernel,
  };
}

/**
 * Reads `etc/os-release`, falling back to `usr/lib/os-release`, under the host root. A missing
 * file is the normal case for the fallback; one that is there and cannot be used (a FIFO, a
 * device, unreadable) is said, since the OS then published may not be the one the user set.
 */
export function collectOs(root: HostRoot, log: Logger): OsFacts {
  let text = "";
  const unusable: string[] = [];
  for (const rel of OS_RELEASE_FILES) {
    try {
      text = root.read(rel).text;
      break;
    } catch (e) {
      if (!(e instanceof SystemError && e.code === "ENOENT")) unusable.push((e as Error).message);
    }
  }
  if (unusable.length) log.warn(`${unusable.join("; ")}; OS identity ${text ? "read from the next os-release file" : "unknown (published as linux)"}`);
  return osFactsFrom(parseOsRelease(text), readKernelRelease(root));
}

/**
 * The kernel release. Under a non-default root the procfs copy is preferred (it is the same
 * kernel, and it keeps tests and containers on the files they were pointed at).
 */
function readKernelRelease(root: HostRoot): string {
  const fromProc = root.readLine("proc/sys/kernel/osrelease");
  if (root.root !== "/" && fromProc) return fromProc;
  try {
    return kernelRelease();
  } catch {
    return fromProc ?? "";
  }
}
