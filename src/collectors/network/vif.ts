// Which interfaces the toolstack knows, and by which id.
//
// - A netfront VIF: its xenbus device says so in sysfs, `device/devtype` = `vif` and
//   `device/nodename` = `device/vif/<N>` (the frontend's xenstore path; N is the VIF id dom0 uses in
//   `attr/vif/<N>`).
// - An SR-IOV VF passed through to the guest: no xenbus device, so the toolstack's MAC listing in
//   xenstore (`xenserver/device/net-sriov-vf/<id>/mac`) is the only link; the xenstore side is
//   injected as `SriovLookup`.
//
// Detection runs whenever a link appears, is renamed or changes MAC, and on `reclassify()`: sysfs
// paths are by name, so a result cached by ifindex goes stale on rename (a Rust agent bug).
import type { Toolstack } from "../../facts/facts.ts";
import type { HostRoot } from "../host-root.ts";
import type { Logger } from "../../log/logger.ts";

export interface SriovLookup {
  /** The VF id whose xenstore `mac` equals `mac` (lower case `aa:bb:…`), if any. */
  vfIdForMac(mac: string): number | undefined;
}

const NODENAME = /^device\/vif\/(\d{1,9})$/;

export class ToolstackClassifier {
  /** Messages already logged, so a broken device is reported once, not on every event. */
  private readonly logged = new Set<string>();

  constructor(
    private readonly root: HostRoot,
    private readonly log: Logger,
    private readonly sriov?: SriovLookup,
  ) {}

  classify(name: string, mac: string | null): Toolstack {
    const vif = this.vifId(name);
    if (vif !== undefined) return { kind: "vif", id: vif };
    if (mac && this.sriov) {
      try {
        const id = this.sriov.vfIdForMac(mac);
        if (id !== undefined) return { kind: "sriov-vf", id };
      } catch (e) {
        this.once("warn", `SR-IOV lookup for ${name} (${mac}) failed: ${(e as Error).message}`);
      }
    }
    return { kind: "none" };
  }

  private vifId(name: string): number | undefined {
    const dir = `sys/class/net/${name}/device`;
    const devtype = this.root.readLine(`${dir}/devtype`);
    if (devtype === undefined) {
      // Virtual links (lo, veth, bridges) have no device; emulated NICs have no devtype. Normal.
      if (this.root.readLink(dir) !== undefined) this.once("debug", `${name}: ${dir}/devtype unreadable, not a VIF`);
      return undefined;
    }
    if (devtype !== "vif") return undefined;
    const nodename = this.root.readLine(`${dir}/nodename`);
    if (nodename === undefined) {
      this.once("warn", `${name}: devtype is vif but ${dir}/nodename is unreadable; not reported as a VIF`);
      return undefined;
    }
    const m = NODENAME.exec(nodename);
    if (!m) {
      this.once("warn", `${name}: unexpected VIF nodename ${JSON.stringify(nodename)} (want device/vif/<N>); not reported as a VIF`);
      return undefined;
    }
    return Number(m[1]);
  }

  private once(level: "warn" | "debug", message: string): void {
    if (this.logged.has(message)) return;
    this.logged.add(message);
    this.log[level](message);
  }
}
