// Which network managers could undo a change the agent makes live through rtnetlink. The agent
// never edits their files; it says who is there, so the operator knows whether the setting will
// hold (xenopsd writes the setting again at every VIF plug, so a boot re-applies it anyway).
import { readdirSync } from "node:fs";
import type { HostRoot } from "../../collectors/host-root.ts";

/** Process names (comm, 15 characters at most) of managers and DHCP clients. */
const PROCESSES: Record<string, string> = {
  NetworkManager: "NetworkManager",
  "systemd-network": "systemd-networkd",
  dhclient: "dhclient",
  dhcpcd: "dhcpcd",
  udhcpc: "udhcpc",
};

function running(root: HostRoot): Set<string> {
  const out = new Set<string>();
  let pids: string[] = [];
  try {
    pids = readdirSync(root.path("proc")).filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    const name = PROCESSES[root.readLine(`proc/${pid}/comm`) ?? ""];
    if (name) out.add(name);
  }
  return out;
}

/**
 * What may fight a static setting on `ifname`, one phrase each (`NetworkManager is running`,
 * `systemd-networkd manages eth0`, `ifupdown brought eth0 up`, `netplan files in /etc/netplan`).
 */
export function detectManagers(root: HostRoot, ifname: string, ifindex: number): string[] {
  const found: string[] = [];
  const procs = running(root);
  if (procs.has("NetworkManager")) found.push("NetworkManager is running");
  if (procs.has("systemd-networkd")) {
    const state = root.readText(`run/systemd/netif/links/${ifindex}`) ?? "";
    if (!/ADMIN_STATE=unmanaged/.test(state)) found.push(`systemd-networkd ${/ADMIN_STATE=configured/.test(state) ? `manages ${ifname}` : "is running"}`);
  }
  const ifstate = root.readText("run/network/ifstate") ?? "";
  if (root.readText(`run/network/ifstate.${ifname}`) !== undefined || new RegExp(`^${ifname.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}=`, "m").test(ifstate)) {
    found.push(`ifupdown brought ${ifname} up (/etc/network/interfaces)`);
  }
  try {
    if (readdirSync(root.path("etc/netplan")).some((f) => f.endsWith(".yaml"))) found.push("netplan files in /etc/netplan");
  } catch {
    // no netplan
  }
  for (const client of ["dhclient", "dhcpcd", "udhcpc"]) if (procs.has(client)) found.push(`a DHCP client (${client}) is running`);
  return found;
}
