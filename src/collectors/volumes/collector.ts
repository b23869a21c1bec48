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
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { VolumeFacts } from "../../facts/facts.ts";
import type { HostRoot } from "../host-root.ts";
import type { Logger } from "../../log/logger.ts";
import { POLLPRI, watchFileEvents, type FdWatch } from "../../../native/index.ts";
import { statvfs, type FsUsage } from "../../../native/index.ts";
import { SysfsBlock } from "./block.ts";
import { parseMountinfo } from "./mountinfo.ts";
import { applyHysteresis, scanVolumes } from "./volumes.ts";

/** A mount table bigger than this is cut at the last whole line (about 100 000 mounts). */
const MAX_MOUNTINFO_BYTES = 16 << 20;
const MAX_WARNINGS = 5;

export interface VolumesCollectorOptions {
  root: HostRoot;
  log: Logger;
  /** Seconds between free-space rescans (default 60). */
  intervalSeconds?: number;
  /** Watch the mount table for changes (default true; false: the timer only). */
  watch?: boolean;
  /** Window after a mount change in which further changes are scanned together (default 250 ms). */
  coalesceMs?: number;
  /** statvfs of a real path; tests inject one. */
  usage?: (path: string) => FsUsage;
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
  private readonly listeners = new Set<Listener>();
  private last: VolumeFacts = { volumes: [] };
  private lastKey = "";
  private watch?: FdWatch;
  private timer?: ReturnType<typeof setInterval>;
  private window?: ReturnType<typeof setTimeout>;
  private pending = false;
  private started = false;
  private stopped = false;
  private warnings = 0;
  private readonly failedUsage = new Set<string>();

  constructor(private readonly opts: VolumesCollectorOptions) {
    this.root = opts.root;
    this.log = opts.log;
    this.block = new SysfsBlock(opts.root);
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
      const path = this.root.path(mountinfoPath(this.root));
      try {
        this.watch = watchFileEvents(path, {
          event: () => this.onMountChange(),
          error: (e) => this.log.warn(`watching ${path} failed (${e.message}); mounts are seen every ${this.interval()} s`),
        }, POLLPRI, "mountinfo");
      } catch (e) {
        this.log.warn(`cannot watch ${path} (${(e as Error).message}); mounts are seen every ${this.interval()} s`);
      }
    }
    this.last = this.scan() ?? { volumes: [] };
    this.lastKey = JSON.stringify(this.last);
    this.timer = setInterval(() => this.refresh(), this.interval() * 1000);
    return this.last;
  }

  /** Resolves when the mount-table watch is in place (tests; the daemon need not wait). */
  async ready(): Promise<void> {
    await this.watch?.ready;
  }

  snapshot(): VolumeFacts {
    return this.last;
  }

  onChange(cb: Listener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Rescans now (timer, resume); listeners hear only a change that passes the hysteresis. */
  refresh(): void {
    if (!this.started || this.stopped) return;
    const next = this.scan();
    if (!next) return;
    const facts = applyHysteresis(this.last, next);
    const key = JSON.stringify(facts);
    if (key === this.lastKey) return;
    this.last = facts;
    this.lastKey = key;
    for (const cb of this.listeners) {
      try {
        cb(facts);
      } catch (e) {
        this.log.error(`volumes change listener failed: ${(e as Error).message}`);
      }
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.window);
    this.watch?.stop();
  }

  private interval(): number {
    return this.opts.intervalSeconds ?? 60;
  }

  private onMountChange(): void {
    if (this.stopped) return;
    if (this.window) {
      this.pending = true;
      return;
    }
    this.refresh();
    this.window = setTimeout(() => this.windowEnd(), this.opts.coalesceMs ?? 250);
  }

  private windowEnd(): void {
    this.window = undefined;
    if (!this.pending) return;
    this.pending = false;
    this.onMountChange();
  }

  /** One full scan, or undefined when the mount table cannot be read (facts are kept). */
  private scan(): VolumeFacts | undefined {
    const rel = mountinfoPath(this.root);
    const text = this.readMountinfo(rel);
    if (text === undefined) return undefined;
    const parsed = parseMountinfo(text);
    if (parsed.malformed > 0) this.warn(`${parsed.malformed} malformed line(s) in ${rel} skipped`);
    const usage = this.opts.usage ?? statvfs;
    const { facts, dropped } = scanVolumes(parsed.mounts, {
      block: this.block,
      uuids: this.block.uuids(),
      usage: (mountPoint) => {
        const path = this.root.path(mountPoint);
        try {
          const u = usage(path);
          this.failedUsage.delete(path);
          return u;
        } catch (e) {
          // Once per path until it works again: an unreadable mount point is not news every minute.
          if (!this.failedUsage.has(path)) this.warn(`free space of ${path} unknown: ${(e as Error).message}`);
          this.failedUsage.add(path);
          return undefined;
        }
      },
    });
    if (dropped > 0) this.warn(`${dropped} block device(s) beyond the first ${facts.volumes.length} not reported`);
    return facts;
  }

  private readMountinfo(rel: string): string | undefined {
    try {
      let buf = readFileSync(this.root.path(rel));
      if (buf.length > MAX_MOUNTINFO_BYTES) {
        buf = buf.subarray(0, buf.lastIndexOf(10, MAX_MOUNTINFO_BYTES) + 1);
        this.warn(`${rel} is over ${MAX_MOUNTINFO_BYTES} bytes; the rest is ignored`);
      }
      return buf.toString("utf8");
    } catch (e) {
      this.warn(`cannot read ${rel}: ${(e as Error).message}; volumes unchanged`);
      return undefined;
    }
  }

  private warn(message: string): void {
    this.warnings++;
    if (this.warnings <= MAX_WARNINGS) this.log.warn(message);
    else this.log.debug(message);
  }
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
