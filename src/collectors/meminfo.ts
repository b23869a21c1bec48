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
import type { Logger } from "../log/logger.ts";

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

/**
 * Memory facts, or undefined when MemTotal or both free fields are missing, or MemTotal is 0.
 * Free above total is clamped to total: MemAvailable is the kernel's estimate (free pages plus
 * reclaimable cache and slab, less reserves), read while ballooning moves MemTotal, so an overshoot
 * is the estimate's error, and "all of it free" is the closest true value; published as is, rrdd's
 * used = total − free would go negative.
 */
export function memoryFactsFrom(fields: Map<string, number>): MemoryFacts | undefined {
  const total = fields.get("MemTotal");
  const free = fields.get("MemAvailable") ?? fields.get("MemFree");
  if (total === undefined || free === undefined || total === 0) return undefined;
  return { totalKiB: total, freeKiB: Math.min(free, total) };
}

/** Memory facts from the root's proc/meminfo, or the reason there are none. */
export function readMemory(root: HostRoot): MemoryFacts | string {
  let text: string;
  try {
    text = root.read("proc/meminfo").text;
  } catch (e) {
    return (e as Error).message;
  }
  return memoryFactsFrom(parseMeminfo(text)) ?? "proc/meminfo has no usable MemTotal and MemAvailable/MemFree";
}

/**
 * Memory read on every tick. A meminfo that turns unreadable or garbage keeps the last good values
 * (squeezed and rrdd would otherwise lose the guest's memory at once), with one warning until it
 * reads again; before any good read there is nothing to publish.
 */
export class MemoryCollector {
  private last: MemoryFacts | undefined;
  private failing: string | undefined;

  constructor(private readonly root: HostRoot, private readonly log: Logger) {}

  collect(): MemoryFacts | undefined {
    const read = readMemory(this.root);
    if (typeof read !== "string") {
      if (this.failing !== undefined) this.log.info("proc/meminfo reads again; memory facts updated");
      this.failing = undefined;
      this.last = read;
      return read;
    }
    if (this.failing === undefined) {
      this.log.warn(this.last
        ? `${read}; keeping the last memory values (total ${this.last.totalKiB} KiB, free ${this.last.freeKiB} KiB) until it reads again`
        : `${read}; memory not published`);
    }
    this.failing = read;
    return this.last;
  }
}
