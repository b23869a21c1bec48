// Memory facts from /proc/meminfo:
//
//   MemTotal:        8039268 kB
//   MemFree:          356116 kB
//   MemAvailable:    6345828 kB
//
// Free memory is MemAvailable (what squeezed and XenCenter mean by "free"), or MemFree on kernels
// older than 3.14, which lack MemAvailable (xe-guest-utilities PR 155 broke RHEL 6 by not falling back).
import type { MemoryFacts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";

/** Values above this are not believable (2^53 KiB): treat as junk rather than publish them. */
const MAX_KIB = Number.MAX_SAFE_INTEGER;

/** Parses meminfo text into KiB values by field name. Lines that do not parse are ignored. */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (!m) continue;
    const n = Number(m[2]);
    if (Number.isSafeInteger(n) && n <= MAX_KIB) fields.set(m[1] as string, n);
  }
  return fields;
}

/** Memory facts, or undefined when MemTotal or both free fields are missing. */
export function memoryFactsFrom(fields: Map<string, number>): MemoryFacts | undefined {
  const total = fields.get("MemTotal");
  const free = fields.get("MemAvailable") ?? fields.get("MemFree");
  if (total === undefined || free === undefined) return undefined;
  return { totalKiB: total, freeKiB: free };
}

export function collectMemory(root: HostRoot): MemoryFacts | undefined {
  const text = root.readText("proc/meminfo");
  return text === undefined ? undefined : memoryFactsFrom(parseMeminfo(text));
}
