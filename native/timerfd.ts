// Wall-clock jump detection: a CLOCK_REALTIME timerfd armed far in the future with
// TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET. Its read() fails with ECANCELED whenever the realtime
// clock is set discontinuously — which a resumed or migrated domain does (xe-guest-utilities,
// CA-202608), as do NTP steps and `date -s`. The read blocks in a Worker (native/fd-reader.ts), so
// nothing runs until the clock actually jumps.
import { check, libc, O_CLOEXEC } from "./libc.ts";
import { readFdInWorker, type FdReader } from "./fd-reader.ts";

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
  try {
    arm(fd);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  let closed = false;
  const reader: FdReader = readFdInWorker(fd, {
    error(err) {
      if (closed) return;
      if (err.code === "ECANCELED") {
        try {
          arm(fd); // reading on works without it; re-arming keeps the timer's state plain
        } catch (e) {
          onError((e as Error).message);
        }
        onJump();
      } else if (err.code === "EWORKER") {
        onError("the timerfd reader Worker did not start (a compiled binary needs native/fd-reader-worker.ts as a build entrypoint); clock jumps will not trigger a republish");
      } else {
        onError(`timerfd read failed (${err.code}); clock jumps will not trigger a republish`);
      }
    },
    // The far-future expiry fired (the clock was set past it): arm again and treat it as a jump.
    data() {
      if (closed) return;
      try {
        arm(fd);
      } catch (e) {
        onError((e as Error).message);
      }
      onJump();
    },
  }, { size: 8, continueOn: ["ECANCELED"] });
  return {
    close() {
      if (closed) return;
      closed = true;
      // Expire the timer now so the Worker's read returns and sees the stop flag; close after.
      const now = new BigInt64Array([0n, 0n, 0n, 1n]);
      reader.stop(
        () => void c.timerfd_settime(fd, 0, now, null),
        () => c.close(fd),
      );
    },
  };
}
