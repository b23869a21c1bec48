// Wall-clock jump detection: a CLOCK_REALTIME timerfd armed far in the future with
// TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET. Its read() fails with ECANCELED whenever the realtime
// clock is set discontinuously — which a resumed or migrated domain does (xe-guest-utilities,
// CA-202608), as do NTP steps and `date -s`. A watcher thread waits on it (native/fd-watch.ts), so
// nothing runs until the clock actually jumps.
import { check, libc, O_CLOEXEC } from "./libc.ts";
import { watchFd, type FdWatch } from "./fd-watch.ts";

const CLOCK_REALTIME = 0;
const TFD_CLOEXEC = O_CLOEXEC;
const TFD_TIMER_ABSTIME = 1;
const TFD_TIMER_CANCEL_ON_SET = 2;
/** Expiry: year ~5138, never reached; the timer exists only to be cancelled. */
const FAR_FUTURE_SECONDS = 100_000_000_000n;

export interface ClockJumpWatcher {
  close(): void;
}

/** struct itimerspec { timespec it_interval; timespec it_value } (4 × i64 on 64-bit Linux). */
function arm(fd: number): void {
  const spec = new BigInt64Array([0n, 0n, FAR_FUTURE_SECONDS, 0n]);
  check(libc().timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, spec, null), "timerfd_settime(CANCEL_ON_SET)");
}

/**
 * Calls `onJump` after each discontinuous change of the realtime clock. Throws SystemError when
 * the timerfd cannot be created (then the caller goes without this trigger).
 */
export function watchClockJumps(onJump: () => void, onError: (message: string) => void = () => {}): ClockJumpWatcher {
  const c = libc();
  const fd = check(c.timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC), "timerfd_create(CLOCK_REALTIME)");
  const jumped = (): void => {
    try {
      arm(fd); // reading on works without it; re-arming keeps the timer's state plain
    } catch (e) {
      onError((e as Error).message);
    }
    onJump();
  };
  let watch: FdWatch;
  try {
    arm(fd);
    watch = watchFd(fd, {
      error(err) {
        if (err.code === "ECANCELED") jumped();
        else if (err.call === "watcher") {
          onError(`the timerfd watcher failed (${err.message}); clock jumps will not trigger a republish`);
        } else onError(`timerfd ${err.call} failed (${err.code}); clock jumps will not trigger a republish`);
      },
      // The far-future expiry fired (the clock was set past it): arm again and treat it as a jump.
      data: jumped,
    }, { readSize: 8, continueOn: ["ECANCELED"], name: "clock-jump" });
  } catch (e) {
    c.close(fd);
    throw e;
  }
  // The watcher is woken out of poll() and lets go of the timerfd before it is closed.
  return { close: () => watch.stop() };
}
