// Every target the bench checks, as data: one definition gives both the text printed in the
// table's "target" column and the check that fills "met", so the two cannot drift apart.
// Limits come from the issues that set them (issue 8 for the single agent, 18 for the fleet,
// 19 for storms); docs/performance.md says why each is what it is.

export interface Target<V = number> {
  /** What the table prints. */
  text: string;
  met(value: V): boolean;
}

/** `value < limit`, printed as "< {limit}{unit}" (or `text`, which must say the same). */
export function lessThan(limit: number, unit = "", text?: string): Target {
  return { text: text ?? `< ${limit}${unit}`, met: (v) => v < limit };
}

/** `value ≤ limit`, printed as "≤ {limit}{unit}" (or `text`, which must say the same). */
export function atMost(limit: number, unit = "", text?: string): Target {
  return { text: text ?? `≤ ${limit}${unit}`, met: (v) => v <= limit };
}

/** The row's target columns: the text, and whether `value` meets it (unknown when undefined). */
export function judge<V>(t: Target<V>, value: V | undefined): { target: string; ok?: boolean } {
  return { target: t.text, ok: value === undefined ? undefined : t.met(value) };
}

const MIB = 1024; // KiB

export const TARGETS = {
  startMs: lessThan(150, " ms"),
  memoryRatio: atMost(1.3, "", "ratio ≤ 1.3"),
  memoryAnonKiB: atMost(8 * MIB, "", "≤ 8 MB"),
  reactionP99Ms: lessThan(20, " ms", "p99 < 20 ms"),
  burstMs: lessThan(2000, "", "< 2 s"),
  burstRequestsPerKey: atMost(1.1),
  restFlatWrites: atMost(0, "", "0"),
  // One write per memory tick; 5 % for a tick that fell at the window's edge.
  restChangingWritesPerTick: atMost(1.05, "", "1 per interval (60/h)"),
  // The event loop may wake only in the 15 s after a timer tick (the tick, a collection its
  // allocations start); JIT and GC helper threads follow that work (counted in "any").
  idleWakeups: {
    text: "only the timer's wake-ups (main thread: none but within 15 s of a tick)",
    met: (v: { ticks: number; untimedMainWakeups: number }) => v.ticks <= 1 && v.untimedMainWakeups === 0,
  } satisfies Target<{ ticks: number; untimedMainWakeups: number }>,
  // Floors (after a collection) show retained memory; a peak depends on when the reading fell.
  churnFloorRiseKiB: atMost(1 * MIB, "", "floor: no growth beyond noise (≤ 1 MiB)"),
  // issue 19 item 8: the DaemonSet's memory limit, and back near the idle program afterwards.
  stormPeakRssKiB: atMost(64 * MIB, " MiB", "peak ≤ 64 MiB"),
  stormAfterRatio: atMost(1.3, "×", "≤ 1.3× idle Bun"),
  // issue 18: dom0's side of a fleet.
  fleetRestCpuRatio: atMost(1 / 3, "", "≤ 1/3 of the incumbent's CPU"),
  fleetEvacuationP99Ms: lessThan(3000, "", "p99 < 3 s, every guest done"),
  fleetRequestsPerKey: atMost(1.1),
  fleetGuestsWrong: atMost(0, "", "all"),
} as const;
