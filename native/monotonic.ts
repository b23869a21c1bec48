// CLOCK_MONOTONIC through libc, comparable across processes on one machine (Bun's
// process.hrtime is not CLOCK_MONOTONIC: bun-runtime.md §6.10). Used by the benchmarks.
import { check, libc } from "./libc.ts";

const CLOCK_MONOTONIC = 1; // linux/time.h
const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec; } on 64-bit

/** Nanoseconds of CLOCK_MONOTONIC. */
export function monotonicNs(): bigint {
  check(libc().clock_gettime(CLOCK_MONOTONIC, ts), "clock_gettime");
  return ts[0]! * 1_000_000_000n + ts[1]!;
}
