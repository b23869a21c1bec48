// Giving back the pages of our own executable that only start-up (or a full republish) needed.
//
// Starting the agent runs much of the Bun runtime once (module loading, bytecode, FFI set-up,
// TinyCC, first parses): about 30 MiB of the 104 MiB executable is mapped in by the first publish,
// and at rest the agent uses a third of it (docs/performance.md). Those are clean file pages: the
// kernel would reclaim them under memory pressure anyway, but until then they count in RSS, in
// the guest's page cache and in a container's memory cgroup. MADV_PAGEOUT (Linux 5.4) reclaims
// them now; what the agent still uses faults back in on its next event. The supervisor calls this
// 5 s after the first publish and after each full republish (resume, migration, reload).
//
// Only the executable's read-only and executable mappings: writable ones hold our data, and
// shared libraries are shared with other processes (the kernel skips pages mapped elsewhere).
// This is about the agent's own process, so it reads the real /proc/self, not the --root tree.
import { readFileSync, readlinkSync } from "node:fs";
import { errno, errnoName, libc } from "./libc.ts";

const MADV_PAGEOUT = 21;

export interface PagedOut {
  /** Bytes of mappings advised (resident or not). */
  bytes: number;
  /** Why nothing was done (an old kernel: EINVAL), or undefined. */
  failure?: string;
}

/** Parses /proc/self/maps lines: the private, non-writable mappings of `file`. */
export function executableRanges(maps: string, file: string): { start: bigint; end: bigint }[] {
  const out: { start: bigint; end: bigint }[] = [];
  for (const line of maps.split("\n")) {
    // start-end perms offset dev inode path (the path may contain spaces)
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (!m || m[4] !== file || m[3]!.includes("w")) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`) });
  }
  return out;
}

/** Asks the kernel to reclaim the executable's clean pages now. Never throws. */
export function pageOutExecutable(): PagedOut {
  let ranges: { start: bigint; end: bigint }[];
  try {
    ranges = executableRanges(readFileSync("/proc/self/maps", "utf8"), readlinkSync("/proc/self/exe"));
  } catch (e) {
    return { bytes: 0, failure: (e as Error).message };
  }
  const c = libc();
  let bytes = 0;
  for (const { start, end } of ranges) {
    if (c.madvise(start, end - start, MADV_PAGEOUT) !== 0) return { bytes, failure: `madvise(MADV_PAGEOUT): ${errnoName(errno())}` };
    bytes += Number(end - start);
  }
  return { bytes };
}
