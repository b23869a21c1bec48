// A pure parser for kernel uevents as read from a NETLINK_KOBJECT_UEVENT socket.
//
// One kernel uevent is one datagram (lib/kobject_uevent.c, kobject_uevent_net_broadcast()):
//
//   add@/devices/system/cpu/cpu2\0ACTION=add\0DEVPATH=/devices/system/cpu/cpu2\0SUBSYSTEM=cpu\0SEQNUM=1669\0
//
// a header `<action>@<devpath>` then `KEY=VALUE` fields, each NUL-terminated
// (Documentation/ABI/testing/sysfs-uevent). The socket reader hands one datagram per chunk, but
// its fallback (Bun.file(fd).stream()) may hand several over in one chunk with nothing between
// them, so messages are framed by their headers: a field starting `<lower-case action>@/` begins a new event, `KEY=` fields belong to
// the current one. udev's re-broadcasts (group 2, `libudev\0` + a binary header) are not
// subscribed to; should one arrive its bytes are skipped up to the next header.
//
// An event whose ACTION or DEVPATH field contradicts its header, or that holds a field which is
// neither, is dropped and counted; the events around it are kept.

export interface Uevent {
  action: string;
  devpath: string;
  env: ReadonlyMap<string, string>;
}

export interface ParsedUevents {
  events: Uevent[];
  /** Events dropped or fields that belonged to no event. */
  malformed: number;
}

const HEADER = /^([a-z_]{1,32})@(\/.{0,4095})$/s;
const FIELD = /^([A-Za-z0-9_]{1,64})=(.{0,8191})$/s;
/** The kernel's environment buffer is 2048 bytes (UEVENT_BUFFER_SIZE): 64 fields is plenty. */
const MAX_FIELDS = 128;

export function parseUevents(chunk: Uint8Array): ParsedUevents {
  // latin1 maps every byte to one character: nothing is lost or replaced, NULs split exactly.
  const tokens = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("latin1").split("\0");
  const events: Uevent[] = [];
  let malformed = 0;
  let current: { action: string; devpath: string; env: Map<string, string>; bad: boolean } | undefined;
  let skipping = false;
  const finish = (): void => {
    if (!current) return;
    const { action, devpath, env, bad } = current;
    const consistent = (env.get("ACTION") ?? action) === action && (env.get("DEVPATH") ?? devpath) === devpath;
    if (bad || !consistent) malformed++;
    else events.push({ action, devpath, env });
    current = undefined;
  };
  for (const token of tokens) {
    if (token === "") continue;
    const header = HEADER.exec(token);
    if (header) {
      finish();
      skipping = false;
      current = { action: header[1]!, devpath: header[2]!, env: new Map(), bad: false };
      continue;
    }
    if (token === "libudev") {
      finish();
      skipping = true;
      continue;
    }
    if (skipping) continue;
    const field = FIELD.exec(token);
    if (!current) {
      malformed++;
      skipping = true; // junk before any header: wait for the next header
      continue;
    }
    if (!field || current.env.size >= MAX_FIELDS) {
      current.bad = true;
      continue;
    }
    current.env.set(field[1]!, field[2]!);
  }
  finish();
  return { events, malformed };
}

/** What a CPU uevent means for hot-plug, or undefined when it is not about a logical CPU. */
export interface CpuEvent {
  cpu: number;
  action: "add" | "remove" | "online" | "offline";
}

const CPU_DEVPATH = /^\/devices\/system\/cpu\/cpu(\d{1,5})$/;

/**
 * `add@/devices/system/cpu/cpuN` with SUBSYSTEM=cpu is a CPU the kernel registered (on Xen, after
 * the toolstack set `cpu/N/availability` = online: drivers/xen/cpu_hotplug.c). Other devices named
 * cpuN (`/devices/virtual/cpuid/cpu1`, SUBSYSTEM=cpuid) are not CPUs.
 */
export function cpuEvent(ev: Uevent): CpuEvent | undefined {
  if (ev.env.get("SUBSYSTEM") !== "cpu") return undefined;
  const m = CPU_DEVPATH.exec(ev.devpath);
  if (!m) return undefined;
  switch (ev.action) {
    case "add":
    case "remove":
    case "online":
    case "offline":
      return { cpu: Number(m[1]), action: ev.action };
    default:
      return undefined;
  }
}

/** A kernel cpulist (`0-3,5,7-8`) as numbers; junk parts are ignored; at most 8192 CPUs. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.trim().split(",")) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi && i < 8192; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}
