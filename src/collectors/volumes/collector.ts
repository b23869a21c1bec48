// The volumes collector: mounted block filesystems, their sizes and free space.
//
// - The mount table is `proc/self/mountinfo`, or `proc/1/mountinfo` under a non-default `--root`
//   (the host's init, whose mount points are paths under that root; our own `self` there may
//   not even exist in the host's PID namespace).
// - Changes to the mount table wake us through poll() on that file (POLLPRI|POLLERR, proc(5)),
//   waited for by a watcher thread (native/fd-watch.ts): nothing runs while nothing is mounted. The
//   first change after a quiet period is scanned at once; changes in the next `coalesceMs` are
//   scanned together when it ends (a container start mounts dozens of things).
// - Free space has no event: a timer (`--volumes-interval`, default 60 s) rescans, and the
//   hysteresis in applyHysteresis() keeps the facts unchanged unless free space moved by ≥ 1 % of
//   a volume's size or the set of volumes changed. The timer also catches a lost or unavailable
//   watch.
// - Nothing here runs a process: statvfs through native/, sysfs and /dev/disk/by-uuid links.
import { resolve } from "node:path";
import type { VolumeFacts } from "../../facts/facts.ts";
import type { HostRoot } from "../host-root.ts";
import type { Logger } from "../../log/logger.ts";
import { POLLPRI, watchFdEvents, type FdWatch } from "../../../native/index.ts";
import type { FsUsage } from "../../../native/index.ts";
import { SysfsBlock } from "./block.ts";
import { parseMountinfo, type MountEntry } from "./mountinfo.ts";
import { applyHysteresis, scanVolumes } from "./volumes.ts";
import { Latest } from "../../events/latest.ts";
import type { TimerHandle, Timers } from "../../events/timers.ts";
import { realTimers } from "../../events/timers.ts";
import { Warner } from "../../events/warner.ts";
import { CoalescingWindow } from "../../events/window.ts";

/** A mount table bigger than this is cut at the last whole line (about 100 000 mounts). */
const MAX_MOUNTINFO_BYTES = 16 << 20;

export interface VolumesCollectorOptions {
  root: HostRoot;
  log: Logger;
  /** Seconds between free-space rescans (default 60). */
  intervalSeconds?: number;
  /** Watch the mount table for changes (default true; false: the timer only). */
  watch?: boolean;
  /** Window after a mount change in which further changes are scanned together (default 250 ms). */
  coalesceMs?: number;
  /** statvfs of a real path; tests inject one (by default the mount point is found inside the root). */
  usage?: (path: string) => FsUsage;
  /** The clock of the rescan timer and the coalescing window (tests pass a fake one). */
  timers?: Timers;
}

type Listener = (facts: VolumeFacts) => void;

/** The mount table the agent reads for this root. */
export function mountinfoPath(root: HostRoot): string {
  return resolve(root.root) === "/" ? "proc/self/mountinfo" : "proc/1/mountinfo";
}

export class VolumesCollector {
  private readonly root: HostRoot;
  private readonly log: Logger;
  private readonly block: SysfsBlock;
  private readonly last: Latest<VolumeFacts>;
  private readonly warnings: Warner;
  private readonly window: CoalescingWindow;
  private watch?: FdWatch;
  private rescan?: TimerHandle;
  private readonly timers: Timers;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: VolumesCollectorOptions) {
    this.root = opts.root;
    this.log = opts.log;
    this.block = new SysfsBlock(opts.root);
    this.last = new Latest<VolumeFacts>({ volumes: [] }, "volumes", opts.log);
    this.warnings = new Warner(opts.log);
    this.timers = opts.timers ?? realTimers;
    const coalesceMs = opts.coalesceMs ?? 250;
    this.window = new CoalescingWindow({ windowMs: coalesceMs, maxWindowMs: coalesceMs }, () => !this.stopped, () => this.refresh(), this.timers);
  }

  /**
   * Starts watching, scans once and returns the first snapshot. The watch is opened before the
   * scan, so a mount made while scanning is seen. A watch that cannot be set up is logged; the
   * timer still rescans.
   */
  start(): VolumeFacts {
    if (this.started) throw new Error("volumes collector already started");
    this.started = true;
    if (this.opts.watch !== false) {
      const rel = mountinfoPath(this.root);
      const path = this.root.path(rel);
      try {
        // Opened like every host read (non-blocking, regular files only): a FIFO there must not
        // hang the start.
        this.watch = watchFdEvents(this.root.openForWatch(rel), path, {
          event: () => this.onMountChange(),
          error: (e) => this.log.warn(`watching ${path} failed (${e.message}); mounts are seen every ${this.interval()} s`),
        }, POLLPRI, "mountinfo");
      } catch (e) {
        this.log.warn(`cannot watch ${path} (${(e as Error).message}); mounts are seen every ${this.interval()} s`);
      }
    }
    this.last.reset(this.scan() ?? { volumes: [] });
    this.armRescan();
    return this.last.value;
  }

  /** Resolves when the mount-table watch is in place (tests; the daemon need not wait). */
  async ready(): Promise<void> {
    await this.watch?.ready;
  }

  snapshot(): VolumeFacts {
    return this.last.value;
  }

  onChange(cb: Listener): () => void {
    return this.last.onChange(cb);
  }

  /** Rescans now (timer, resume); listeners hear only a change that passes the hysteresis. */
  refresh(): void {
    if (!this.started || this.stopped) return;
    const next = this.scan();
    if (!next) return;
    this.last.set(applyHysteresis(this.last.value, next));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearTimeout(this.rescan);
    this.window.cancel();
    this.watch?.stop();
  }

  private armRescan(): void {
    this.rescan = this.timers.setTimeout(() => {
      this.refresh();
      if (!this.stopped) this.armRescan();
    }, this.interval() * 1000);
  }

  private interval(): number {
    return this.opts.intervalSeconds ?? 60;
  }

  /** Scanned at once after a quiet period; changes in the window after it, together when it ends. */
  private onMountChange(): void {
    if (this.stopped) return;
    this.window.mark();
    this.window.settle();
  }

  /** One full scan, or undefined when the mount table cannot be read (facts are kept). */
  private scan(): VolumeFacts | undefined {
    const rel = mountinfoPath(this.root);
    const text = this.readMountinfo(rel);
    if (text === undefined) return undefined;
    const parsed = parseMountinfo(text);
    if (parsed.malformed > 0) this.warnings.warn(`${parsed.malformed} malformed line(s) in ${rel} skipped`);
    const usage = this.opts.usage;
    const visible = visibleMounts(parsed.mounts);
    const { facts, dropped } = scanVolumes(parsed.mounts, {
      block: this.block,
      uuids: this.block.uuids(),
      usage: (mountPoint) => {
        const path = this.root.path(mountPoint);
        try {
          const u = usage ? usage(path) : this.root.usage(mountPoint);
          checkSameFilesystem(path, u, visible.get(mountPoint));
          this.warnings.over(path);
          return u;
        } catch (e) {
          // Once per path until it works again: an unreadable mount point is not news every minute.
          this.warnings.episode(path, `free space of ${path} unknown: ${(e as Error).message}`);
          return undefined;
        }
      },
    });
    if (dropped > 0) this.warnings.warn(`${dropped} block device(s) beyond the first ${facts.volumes.length} not reported`);
    return facts;
  }

  private readMountinfo(rel: string): string | undefined {
    try {
      const { text, truncated } = this.root.read(rel, MAX_MOUNTINFO_BYTES);
      if (!truncated) return text;
      this.warnings.warn(`${rel} is over ${MAX_MOUNTINFO_BYTES} bytes; the rest is ignored`);
      return text.slice(0, text.lastIndexOf("\n") + 1);
    } catch (e) {
      this.warnings.warn(`cannot read ${rel}: ${(e as Error).message}; volumes unchanged`);
      return undefined;
    }
  }
}

/** The mount visible at each mount point: the last one mounted there (an over-mount hides the rest). */
function visibleMounts(mounts: readonly MountEntry[]): Map<string, MountEntry> {
  return new Map(mounts.map((m) => [m.mountPoint, m]));
}

/**
 * Throws when statvfs answered for another file system than the mount table names: in a container
 * whose view of the host root is a private copy (a recursive read-only bind has no propagation),
 * a file system mounted on the host later is in the host's table but not under the root, so the
 * directory measured is the parent's. Major 0 (btrfs subvolumes, anonymous devices) is not checked:
 * there st_dev and the table may differ for the same file system.
 */
function checkSameFilesystem(path: string, u: FsUsage, mount: MountEntry | undefined): void {
  if (!u.device || !mount || mount.major === 0) return;
  if (u.device.major === mount.major && u.device.minor === mount.minor) return;
  throw new Error(
    `${path} is device ${u.device.major}:${u.device.minor}, the mount table says ${mount.major}:${mount.minor} ` +
      `(mounted after the agent's view of the root was made? a container restart shows it)`,
  );
}

/** One scan for the `collect` command: no watch, no timer. */
export function collectVolumesOnce(root: HostRoot, log: Logger): VolumeFacts {
  const c = new VolumesCollector({ root, log, watch: false });
  try {
    return c.start();
  } finally {
    c.stop();
  }
}
