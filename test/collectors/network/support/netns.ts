// Network namespace fixtures for the collector tests: a throw-away namespace, `ip` in it, the
// kernel's own view (`ip -j addr`) as the oracle, and waiting for the collector to agree.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkFacts } from "../../../../src/facts/facts.ts";
import type { Logger } from "../../../../src/log/logger.ts";
import type { NetworkCollector } from "../../../../src/collectors/network/collector.ts";

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!Bun.which("ip")) return "iproute2 (`ip`) is not installed";
  const probe = `xga-probe-${process.pid}`;
  const add = Bun.spawnSync(["ip", "netns", "add", probe], { stderr: "pipe" });
  if (add.exitCode !== 0) return `ip netns add failed: ${add.stderr.toString().trim()}`;
  Bun.spawnSync(["ip", "netns", "del", probe]);
  return null;
}

/** Prints the reason a suite is skipped, so a skip is never silent. */
export function announceSkip(suite: string, reason: string | null): boolean {
  if (reason) console.warn(`SKIP ${suite}: ${reason}`);
  return reason !== null;
}

export class TestNetns {
  readonly name: string;

  constructor(tag: string) {
    this.name = `xga-${tag}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    run(["ip", "netns", "add", this.name]);
    // No duplicate address detection by default: addresses are final at once, so the kernel's
    // view does not move under a comparison. The DAD test turns it on for its own link.
    this.sysctl("net.ipv6.conf.default.accept_dad", "0");
    this.sysctl("net.ipv6.conf.all.accept_dad", "0");
  }

  ip(...args: string[]): void {
    run(["ip", "-n", this.name, ...args]);
  }

  /** `ip -batch` with the given lines, in this namespace. */
  batch(lines: string[]): void {
    const p = Bun.spawnSync(["ip", "-n", this.name, "-batch", "-"], { stdin: Buffer.from(lines.join("\n") + "\n"), stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(`ip -batch failed: ${p.stderr.toString()}`);
  }

  sysctl(key: string, value: string): void {
    run(["ip", "netns", "exec", this.name, "sysctl", "-q", "-w", `${key}=${value}`]);
  }

  /** The kernel's links and addresses in NetworkFacts form (toolstack left out). */
  oracle(): unknown[] {
    const p = Bun.spawnSync(["ip", "-n", this.name, "-j", "addr", "show"], { stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(`ip -j addr failed: ${p.stderr.toString()}`);
    const links = JSON.parse(p.stdout.toString()) as IpLink[];
    const byName = new Map(links.map((l) => [l.ifname, l.ifindex]));
    return links
      .map((l) => ({
        ifindex: l.ifindex,
        name: l.ifname,
        mac: l.address ?? null,
        master: l.master ? (byName.get(l.master) ?? -1) : null,
        operstate: l.operstate.toLowerCase(),
        addresses: (l.addr_info ?? []).map((a) => ({
          family: a.family === "inet" ? "ipv4" : "ipv6",
          address: a.local,
          prefixLength: a.prefixlen,
          scope: a.scope,
          temporary: a.temporary === true,
          deprecated: a.deprecated === true,
          tentative: a.tentative === true,
          dadfailed: a.dadfailed === true,
        })),
      }))
      .sort((a, b) => a.ifindex - b.ifindex);
  }

  delete(): void {
    Bun.spawnSync(["ip", "netns", "del", this.name]);
  }
}

interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  master?: string;
  operstate: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string; temporary?: boolean; deprecated?: boolean; tentative?: boolean; dadfailed?: boolean }[];
}

export type Comparable = ReturnType<typeof comparable>;

/** Facts without the toolstack (the kernel does not know it), for comparison with the oracle. */
export function comparable(f: NetworkFacts) {
  return f.interfaces.map(({ toolstack: _t, ...rest }) => rest);
}

function run(argv: string[]): void {
  const p = Bun.spawnSync(argv, { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString().trim()}`);
}

/** Resolves with the collector's snapshot once `pred` holds for it; rejects after `ms`. */
export function waitFor(c: NetworkCollector, pred: (f: NetworkFacts) => boolean, ms = 5000, what = "condition"): Promise<NetworkFacts> {
  return new Promise((resolve, reject) => {
    if (pred(c.snapshot())) return resolve(c.snapshot());
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}; last snapshot: ${JSON.stringify(c.snapshot()).slice(0, 3000)}`));
    }, ms);
    const off = c.onChange((f) => {
      if (!pred(f)) return;
      clearTimeout(timer);
      off();
      resolve(f);
    });
  });
}

/**
 * Waits until the collector's facts equal the kernel's (`ip -j addr`) exactly, order included. The
 * kernel's view is read again on every batch (and once more at the deadline), because the kernel
 * may still be moving (link-watch delays carrier and DAD by up to a second).
 */
export async function converge(c: NetworkCollector, ns: TestNetns, ms = 5000): Promise<NetworkFacts> {
  const same = (f: NetworkFacts) => JSON.stringify(comparable(f)) === JSON.stringify(ns.oracle());
  try {
    return await waitFor(c, same, ms, "the kernel's state (ip -j addr)");
  } catch (e) {
    if (same(c.snapshot())) return c.snapshot();
    throw new Error(`${(e as Error).message}\nkernel: ${JSON.stringify(ns.oracle()).slice(0, 3000)}`);
  }
}

export const iface = (f: NetworkFacts, name: string) => f.interfaces.find((i) => i.name === name);

/** A HostRoot fixture directory with `sys/class/net/<if>/device/{devtype,nodename}` files. */
export class SysfsFixture {
  readonly root = mkdtempSync(join(tmpdir(), "xga-sysfs-"));

  device(ifname: string, files: { devtype?: string; nodename?: string }): void {
    const dir = join(this.root, "sys/class/net", ifname, "device");
    mkdirSync(dir, { recursive: true });
    if (files.devtype !== undefined) writeFileSync(join(dir, "devtype"), `${files.devtype}\n`);
    if (files.nodename !== undefined) writeFileSync(join(dir, "nodename"), `${files.nodename}\n`);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A Logger that keeps what it was told. */
export function collectingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  const log = { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug"), withTag: () => log, lines };
  return log;
}
