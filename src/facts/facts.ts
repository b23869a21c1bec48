// Facts: what the collectors know about the guest. Plain data, no behaviour: schemas turn a
// Facts snapshot into the xenstore tree, so everything a schema needs must be here.

/** The agent itself. */
export interface AgentFacts {
  /** Semantic version baked in at build time, e.g. `1.2.3` or `1.3.0-rc.1`. */
  version: string;
  /** Build number baked in at build time (commit count of the source tree; 0 when unknown). */
  build: number;
}

/** From os-release and uname. */
export interface OsFacts {
  /** os-release `ID`, lower case (`debian`, `ubuntu`, `talos`…); `linux` when unknown. */
  id: string;
  /** os-release `NAME`, e.g. `Debian GNU/Linux`; empty when unknown. */
  name: string;
  /** os-release `PRETTY_NAME`, else NAME + VERSION, else `Linux`. */
  prettyName: string;
  /** os-release `VERSION_ID` kept as text (`22.04`, `12`, `3.19.1`); empty when absent. */
  versionId: string;
  /** Kernel release (`uname -r`). */
  kernelRelease: string;
}

/** From /proc/meminfo, in KiB. */
export interface MemoryFacts {
  totalKiB: number;
  /** MemAvailable, or MemFree on kernels without it (< 3.14). */
  freeKiB: number;
}

export interface HostFacts {
  /** The short host name (first label). */
  hostName: string;
  /** DNS domain when the host name is a FQDN (`example.org`); empty otherwise. */
  domain: string;
}

/** How the toolstack knows an interface. */
export type Toolstack =
  | { kind: "vif"; id: number }
  | { kind: "sriov-vf"; id: number }
  | { kind: "none" };

export type AddressScope = "global" | "site" | "link" | "host" | "nowhere";

export interface NetAddress {
  family: "ipv4" | "ipv6";
  /** Dotted quad for IPv4; RFC 5952 text for IPv6 (lower case, `::` compression, no zone). */
  address: string;
  prefixLength: number;
  scope: AddressScope;
  /** IPv6 privacy (RFC 4941) address. */
  temporary: boolean;
  deprecated: boolean;
  tentative: boolean;
  dadfailed: boolean;
}

export interface NetInterface {
  ifindex: number;
  name: string;
  /** `aa:bb:cc:dd:ee:ff`, lower case; null when the link has no hardware address. */
  mac: string | null;
  /** ifindex of the bridge/bond this interface is enslaved to, or null. */
  master: number | null;
  /** Kernel operational state, lower case: `up`, `down`, `unknown`, `dormant`, `lowerlayerdown`… */
  operstate: string;
  toolstack: Toolstack;
  /** The interface's own addresses, as the kernel reports them (no policy applied). */
  addresses: NetAddress[];
}

export interface NetworkFacts {
  /** Every link the kernel reports, sorted by ifindex. */
  interfaces: NetInterface[];
}

/** A Xen PV (or other) whole disk a volume is stored on. */
export interface VolumeDisk {
  /** Kernel name of the whole disk: `xvda`. */
  name: string;
  /** Xen virtual block device id from the disk's xenbus node `device/vbd/<id>`; null when not a PV disk. */
  vbd: number | null;
}

/** A mounted block filesystem (one per block device, however often it is mounted). */
export interface Volume {
  /** Kernel name of the block device: `xvda1`, `dm-0`, `nvme0n1p2`. */
  device: string;
  /** `/dev/<device>`, or `/dev/mapper/<name>` for device-mapper. */
  path: string;
  /** Filesystem UUID from `/dev/disk/by-uuid`; empty when unknown. */
  uuid: string;
  /** Filesystem type from mountinfo: `ext4`, `xfs`, `btrfs`… */
  filesystem: string;
  /** Block device size in bytes (sysfs `size` × 512); the filesystem's size when sysfs has none. */
  sizeBytes: number;
  /** f_blocks × f_frsize; null when statvfs failed. */
  fsSizeBytes: number | null;
  /** f_bavail × f_frsize, changed only when it moved by ≥ 1 % of the size; null when statvfs failed. */
  freeBytes: number | null;
  /** Where it is mounted (bind mounts of a subdirectory excluded), in mountinfo order. */
  mountPoints: string[];
  /** The whole disks it is stored on (several for LVM/md), sorted by name. */
  disks: VolumeDisk[];
}

export interface VolumeFacts {
  /** Sorted by device kernel name in natural order (`xvda2` before `xvda10`). */
  volumes: Volume[];
}

/** vCPU hot-plug: hot-added CPUs are brought online by the agent while `hotplug` is true. */
export interface VcpuFacts {
  /** The uevent listener is running: `control/feature-vcpu-hotplug` is advertised. */
  hotplug: boolean;
  /** Kernel cpulists from `sys/devices/system/cpu/{present,online}`: `0-3`, `0,2`. */
  present: string;
  online: string;
}

/** A full snapshot. A slice is absent until its collector has produced it once. */
export interface Facts {
  agent: AgentFacts;
  os?: OsFacts;
  memory?: MemoryFacts;
  host?: HostFacts;
  network?: NetworkFacts;
  volumes?: VolumeFacts;
  vcpus?: VcpuFacts;
}

export type FactKey = Exclude<keyof Facts, "agent">;
