// What systemd hears (sd_notify): READY=1 once, after the first full publish; STATUS= lines;
// RELOADING=1 and READY=1 around a reload; STOPPING=1; watchdog keep-alives when asked. And the
// settle timer: a while after heavy work (a full publish, a large one) the process gives back what
// only that work needed.
import type { Logger } from "../log/logger.ts";
import { monotonicUsec, type Notifier } from "../../native/index.ts";

/** How long after heavy work the process settles (afterHeavyWork). */
export const SETTLE_AFTER_HEAVY_WORK_MS = 5000;

export interface ServiceStatusOptions {
  notifier?: Notifier;
  /** WATCHDOG_USEC when systemd asked for keep-alives. */
  watchdogUsec?: number;
  log: Logger;
  /** Runs once no heavy work has finished for `settleMs` (src/cli/run.ts: the executable's pages). */
  afterHeavyWork?: () => void;
  settleMs?: number;
}

export class ServiceStatus {
  private readySent = false;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(private readonly opts: ServiceStatusOptions) {
    const { watchdogUsec, notifier, log } = opts;
    if (watchdogUsec && notifier?.active) {
      const everyMs = Math.max(1, Math.floor(watchdogUsec / 2000));
      this.watchdog = setInterval(() => notifier.notify("WATCHDOG=1"), everyMs);
      log.debug(`systemd watchdog: keep-alive every ${everyMs} ms`);
    }
  }

  status(text: string): void {
    this.opts.notifier?.notify(`STATUS=${text}`);
  }

  /** After a publish: READY=1 the first time (and after a reload), STATUS= otherwise. */
  published(keys: number, target: string): void {
    const line = `STATUS=Publishing ${keys} keys to ${target}`;
    if (this.readySent) return void this.opts.notifier?.notify(line);
    this.readySent = true;
    this.opts.notifier?.notify(`READY=1\n${line}`);
    this.heavyWorkDone();
  }

  reloading(): void {
    this.opts.notifier?.notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
    this.readySent = false;
  }

  /** A full publish (start-up, republish, reload) or a large one finished: settle once things are quiet. */
  heavyWorkDone(): void {
    const after = this.opts.afterHeavyWork;
    if (!after || this.stopped) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (!this.stopped) after();
    }, this.opts.settleMs ?? SETTLE_AFTER_HEAVY_WORK_MS);
  }

  stopping(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.settleTimer);
    this.opts.notifier?.notify("STOPPING=1\nSTATUS=Stopping");
  }

  close(): void {
    this.opts.notifier?.close();
  }
}
