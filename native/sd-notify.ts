// systemd's readiness protocol (sd_notify(3)) over $NOTIFY_SOCKET: one datagram per message on a
// Unix socket, a path or an abstract `@name`. systemd attaches our credentials itself
// (SO_PASSCRED on its end), so a plain send() is enough. Without NOTIFY_SOCKET everything is a no-op.
import { check, libc } from "./libc.ts";
import { connectUnixDatagram, type UnixDatagram } from "./unix-datagram.ts";

export interface Notifier {
  /** Whether a NOTIFY_SOCKET was given and could be connected. */
  readonly active: boolean;
  /** Sends `KEY=value` lines (`READY=1`, `STATUS=…`); false when it could not be sent. */
  notify(message: string): boolean;
  close(): void;
}

const inactive: Notifier = { active: false, notify: () => false, close() {} };

/**
 * Connects to $NOTIFY_SOCKET. Throws SystemError when it is set but unusable, with `code`
 * (the caller logs it once and carries on without).
 */
export function openNotifier(env: Record<string, string | undefined>): Notifier {
  const path = env.NOTIFY_SOCKET;
  if (!path) return inactive;
  if (!path.startsWith("/") && !path.startsWith("@")) {
    throw Object.assign(new Error(`NOTIFY_SOCKET '${path}' is not a Unix socket path (vsock is not supported)`), { code: "EAFNOSUPPORT" });
  }
  const socket: UnixDatagram = connectUnixDatagram(path);
  return {
    active: true,
    notify: (message) => socket.send(message),
    close: () => socket.close(),
  };
}

/**
 * The watchdog interval systemd asked for, in µs, or undefined. WATCHDOG_PID, when set, must name
 * this process (sd_watchdog_enabled(3)).
 */
export function watchdogUsec(env: Record<string, string | undefined>, pid = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Number(usec);
}

/** CLOCK_MONOTONIC in µs, for `RELOADING=1` + `MONOTONIC_USEC=` (process.hrtime is not it in dev mode). */
export function monotonicUsec(): bigint {
  const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec }
  check(libc().clock_gettime(1, ts), "clock_gettime(CLOCK_MONOTONIC)");
  return (ts[0] as bigint) * 1_000_000n + (ts[1] as bigint) / 1000n;
}
