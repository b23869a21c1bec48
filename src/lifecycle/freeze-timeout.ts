// XenServer's agent raises the kernel's task-freeze timeout so that suspending a loaded guest for a
// migration does not fail with "Freezing of tasks failed after 20.00 seconds" (CP-41689). Only the
// kernel default is changed: a value someone chose is left alone.
import type { HostRoot } from "../collectors/host-root.ts";
import type { Logger } from "../log/logger.ts";

export const FREEZE_TIMEOUT_PATH = "sys/power/pm_freeze_timeout";
export const KERNEL_DEFAULT_MS = "20000";
export const RAISED_MS = "300000";

export type FreezeTimeoutOutcome = "raised" | "left" | "absent" | "failed";

export function raiseFreezeTimeout(root: HostRoot, log: Logger): FreezeTimeoutOutcome {
  const current = root.readLine(FREEZE_TIMEOUT_PATH);
  if (current === undefined) {
    log.debug(`${root.path(FREEZE_TIMEOUT_PATH)} not present; freeze timeout left alone`);
    return "absent";
  }
  if (current !== KERNEL_DEFAULT_MS) {
    log.debug(`pm_freeze_timeout is ${current} ms, not the kernel default; left alone`);
    return "left";
  }
  try {
    root.write(FREEZE_TIMEOUT_PATH, RAISED_MS);
    log.info(`raised pm_freeze_timeout from ${KERNEL_DEFAULT_MS} to ${RAISED_MS} ms (so migration does not time out freezing tasks)`);
    return "raised";
  } catch (e) {
    log.warn(`could not raise ${root.path(FREEZE_TIMEOUT_PATH)} to ${RAISED_MS} ms: ${(e as Error).message} ` +
      "(read-only /sys? the systemd unit lists it in ReadWritePaths=)");
    return "failed";
  }
}
