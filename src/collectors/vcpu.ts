// vCPU hot-plug: bring hot-added vCPUs online, as xe-guest-utilities' udev rule
// z10_xen-vcpu-hotplug.rules does (xe-guest-utilities-and-xapi.md §4.3), for guests without it
// (Talos, containers, minimal images), and advertise `control/feature-vcpu-hotplug` while doing so.
//
// On Xen, `xl vcpu-set` / `VM.set_VCPUs_number_live` set `cpu/N/availability` = online; the
// kernel's watch (drivers/xen/cpu_hotplug.c) registers the CPU, which sends
// `add@/devices/system/cpu/cpuN` (SUBSYSTEM=cpu), but leaves it offline: user space must write `1`
// to `/sys/devices/system/cpu/cpuN/online` (Documentation/core-api/cpu_hotplug.rst). Removal needs
// nothing from us: the kernel offlines and unregisters the CPU itself.
//
// Policy: only a CPU that is *added* is onlined, as the udev rule does. CPUs that are present but
// offline when the agent starts are left alone: they may have been offlined by an administrator
// (or by maxcpus=/nosmt), and the agent must not undo that. The cost: a vCPU hot-added while no
// agent was running stays offline until someone onlines it. The one exception is a lost event:
// after a receive-buffer overrun (ENOBUFS) the CPUs that became present since the last known set
// are treated as added, since their add events may be the ones lost.
//
// The uevent socket is read with native/socket-reader.ts (a thread asleep in poll(), no timer): the
// collector costs nothing while no device changes.
import type { VcpuFacts } from "../facts/facts.ts";
import type { HostRoot } from "./host-root.ts";
import type { Logger } from "../log/logger.ts";
import { readSocket, type SocketReader } from "../../native/index.ts";
import { openUevent, type UeventSocket } from "../../native/index.ts";
import { cpuEvent, parseCpuList, parseUevents } from "./uevent.ts";
import { Latest } from "../events/latest.ts";
import { Warner } from "../events/warner.ts";

export interface VcpuCollectorOptions {
  root: HostRoot;
  log: Logger;
  /** Socket receive buffer asked for (default 1 MiB; uevents are small and rare). */
  receiveBufferBytes?: number;
}

export interface VcpuCollectorStats {
  /** CPUs this collector brought online. */
  onlined: number;
  overruns: number;
  malformed: number;
}

type Listener = (facts: VcpuFacts) => void;

export class VcpuCollector {
  private readonly root: HostRoot;
  private readonly log: Logger;
  private sock?: UeventSocket;
  private reader?: SocketReader;
  private known = new Set<number>();
  private readonly last: Latest<VcpuFacts>;
  private readonly warnings: Warner;
  private active = false;
  private stopped = false;
  private readonly counters = { onlined: 0, overruns: 0, malformed: 0 };

  constructor(private readonly opts: VcpuCollectorOptions) {
    this.root = opts.root;
    this.log = opts.log;
    this.last = new Latest<VcpuFacts>({ hotplug: false, present: "", online: "" }, "vCPU", opts.log);
    this.warnings = new Warner(opts.log);
  }

  /** Opens the uevent socket and returns the first facts. Throws SystemError if it cannot. */
  start(): VcpuFacts {
    if (this.sock || this.stopped) throw new Error("vCPU collector already started");
    // Subscribe before reading the present set: an add after this read is an event.
    const sock = openUevent({ receiveBufferBytes: this.opts.receiveBufferBytes ?? 1 << 20 });
    this.sock = sock;
    this.known = new Set(this.presentCpus());
    this.active = true;
    this.reader = readSocket(sock.fd, {
      data: (chunk) => this.onChunk(chunk),
      error: (err) => this.onReadError(err.code, err.message),
      end: () => this.fail("the uevent socket was closed"),
    });
    this.last.reset(this.read());
    return this.last.value;
  }

  snapshot(): VcpuFacts {
    return this.last.value;
  }

  onChange(cb: Listener): () => void {
    return this.last.onChange(cb);
  }

  stats(): VcpuCollectorStats {
    return { ...this.counters };
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.active = false;
    this.reader?.stop();
    this.sock?.close();
  }

  /** Handles one chunk from the socket (exposed for tests that feed captured bytes). */
  onChunk(chunk: Uint8Array): void {
    if (this.stopped) return;
    const { events, malformed } = parseUevents(chunk);
    if (malformed > 0) {
      this.counters.malformed += malformed;
      this.warnings.warn(`${malformed} malformed uevent(s) skipped`);
    }
    let cpuChanged = false;
    for (const ev of events) {
      const cpu = cpuEvent(ev);
      if (!cpu) continue;
      cpuChanged = true;
      if (cpu.action === "add") {
        this.known.add(cpu.cpu);
        this.bringOnline(cpu.cpu);
      } else if (cpu.action === "remove") {
        this.known.delete(cpu.cpu);
      }
    }
    if (cpuChanged) this.publish();
  }

  private onReadError(code: string, message: string): boolean {
    if (this.stopped) return false;
    if (code !== "ENOBUFS") {
      this.fail(`reading uevents failed (${message})`);
      return false;
    }
    this.counters.overruns++;
    this.log.info(`uevent receive buffer overrun (${this.counters.overruns} so far); checking for added vCPUs`);
    const present = this.presentCpus();
    for (const cpu of present) if (!this.known.has(cpu)) this.bringOnline(cpu);
    this.known = new Set(present);
    this.publish();
    return true;
  }

  /** Writes `1` to cpuN/online unless it is online already or cannot be offlined (no `online`). */
  private bringOnline(cpu: number): void {
    const rel = `sys/devices/system/cpu/cpu${cpu}/online`;
    const state = this.root.readLine(rel);
    if (state === undefined || state === "1") return;
    try {
      this.root.write(rel, "1");
      this.counters.onlined++;
      this.log.info(`vCPU ${cpu} was added: brought it online`);
    } catch (e) {
      this.warnings.warn(`vCPU ${cpu} was added but could not be brought online: ${(e as Error).message}`);
    }
  }

  private fail(reason: string): void {
    if (this.stopped || !this.active) return;
    this.active = false;
    this.log.error(`${reason}; vCPU hot-plug is off and no longer advertised`);
    this.publish();
  }

  private presentCpus(): number[] {
    return parseCpuList(this.root.readLine("sys/devices/system/cpu/present") ?? "");
  }

  private read(): VcpuFacts {
    return {
      hotplug: this.active,
      present: this.root.readLine("sys/devices/system/cpu/present") ?? "",
      online: this.root.readLine("sys/devices/system/cpu/online") ?? "",
    };
  }

  private publish(): void {
    this.last.set(this.read());
  }
}
