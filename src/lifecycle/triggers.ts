// What tells the agent that its xenstore tree was replaced (live migration, resume, clone): the
// domain's tree is then new and empty (xe-guest-utilities-and-xapi.md §3), and everything must be
// written again.
//
//  - `unique-domain-id`: XAPI writes a fresh UUID for every domain it builds, the destination of a
//    migration and a resumed domain included. A watch event whose read gives a different value is
//    a trigger. Absent on plain xl hosts: the watch then never fires after the first event.
//  - a sentinel watch on a path nobody writes: xenstored fires every watch once on registration,
//    and the guest kernel registers all its watches again on resume, so any later event means
//    "resumed" (the Rust agent's live-migration-detect does the same).
//  - wall-clock jumps (native/timerfd.ts), wired by the supervisor. NTP and `date -s` step the
//    clock too, so a jump alone is checked against the tree first (one READ of a key we wrote).
//
// The first event of each watch (fired by the registration itself) is never a trigger.
import type { Logger } from "../log/logger.ts";
import type { WatchingClient } from "../xenstore/client.ts";
import { XenstoreError } from "../xenstore/errors.ts";

export const UNIQUE_DOMAIN_ID = "unique-domain-id";
/** Never written by anyone: its only events are registrations. */
export const RESUME_SENTINEL = "xen-guest-agent-resume-sentinel";

export type TriggerReason = "unique-domain-id" | "resume-watch" | "clock-jump" | "reconnect";

export interface WatchTriggers {
  /** Removes the watches (best effort; a lost connection has none left anyway). */
  close(): Promise<void>;
}

/**
 * Registers both watches. `base` prefixes the paths on a privileged connection (tests); a guest
 * connection uses paths relative to its domain. Resolves once both are registered.
 */
export async function registerWatchTriggers(
  client: WatchingClient,
  fire: (reason: TriggerReason) => void,
  log: Logger,
  base = "",
): Promise<WatchTriggers> {
  const abs = (p: string) => (base ? `${base}/${p}` : p);
  const readId = async (): Promise<string | undefined> => {
    try {
      return await client.read(abs(UNIQUE_DOMAIN_ID));
    } catch (e) {
      if (!(e instanceof XenstoreError && (e.code === "ENOENT" || e.code === "EACCES"))) log.debug(`reading ${UNIQUE_DOMAIN_ID}: ${(e as Error).message}`);
      return undefined;
    }
  };

  // Registration resolves once each watch's own first event has been seen (and the id read), so a
  // change after that is never mistaken for the registration event.
  let idSeen: () => void = () => {};
  let sentinelSeen: () => void = () => {};
  const firstEvents = Promise.all([
    new Promise<void>((resolve) => (idSeen = resolve)),
    new Promise<void>((resolve) => (sentinelSeen = resolve)),
  ]);

  let knownId: string | undefined;
  let idEvents = 0;
  // Events are hints: each one re-reads, and reads are chained so values are compared in order.
  let chain: Promise<void> = Promise.resolve();
  const onIdEvent = (): void => {
    const first = idEvents++ === 0;
    chain = chain.then(async () => {
      const id = await readId();
      if (first) {
        knownId = id;
        if (id !== undefined) log.debug(`${UNIQUE_DOMAIN_ID} is ${id}`);
        idSeen();
        return;
      }
      if (id !== undefined && id !== knownId) {
        log.info(`${UNIQUE_DOMAIN_ID} changed (${knownId ?? "none"} → ${id}): this is a new domain`);
        knownId = id;
        fire("unique-domain-id");
      } else if (id === undefined) {
        knownId = undefined;
      }
    });
  };

  let sentinelEvents = 0;
  const onSentinel = (): void => {
    if (sentinelEvents++ === 0) {
      sentinelSeen(); // the registration's own event
      return;
    }
    fire("resume-watch");
  };

  const handles: { unwatch(): Promise<void> }[] = [];
  handles.push(await client.watch(abs(UNIQUE_DOMAIN_ID), onIdEvent));
  handles.push(await client.watch(abs(RESUME_SENTINEL), onSentinel));
  // xenstored always sends the first events; a daemon that does not is waited for at most 5 s.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([firstEvents, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))]);
  clearTimeout(timer);
  return {
    async close() {
      await Promise.allSettled(handles.map((h) => h.unwatch()));
    },
  };
}

/**
 * Turns triggers that arrive together into one action: the first trigger opens a window of
 * `settleMs`; every trigger until it closes joins, then `run` gets all their reasons once.
 * A trigger while `run` is in progress opens a new window (the state may have changed again).
 */
export class Coalescer<R extends string> {
  private reasons = new Set<R>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly settleMs: number,
    private readonly run: (reasons: R[]) => void,
  ) {}

  fire(reason: R): void {
    this.reasons.add(reason);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const reasons = [...this.reasons];
      this.reasons.clear();
      this.run(reasons);
    }, this.settleMs);
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reasons.clear();
  }
}
