// The real process: `bun src/main.ts run` spawned with signals sent to it, against the console
// publisher and against the in-process xenstored (XENSTORED_PATH), with systemd's NOTIFY_SOCKET
// played by an abstract Unix datagram socket this test binds.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { TreeBuilder } from "../../src/schema/index.ts";
import { collectStaticFacts, timedCollectors } from "../../src/collectors/static.ts";
import { resolveConfig } from "../../src/config/options.ts";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { collectNetworkOnce } from "../../src/collectors/network/collector.ts";
import { VcpuCollector } from "../../src/collectors/vcpu.ts";
import { collectVolumesOnce } from "../../src/collectors/volumes/collector.ts";
import { AF_UNIX, check, libc, SOCK_CLOEXEC, SOCK_DGRAM } from "../../native/libc.ts";
import { readSocket } from "../../native/socket-reader.ts";
import { sockaddrUn } from "../../native/sockaddr-un.ts";
import { TestXenstored } from "../xenstore/server/server.ts";
import { requestTypes } from "../../src/requests/registry.ts";
import { staticIpType } from "../../src/requests/static-ip/handler.ts";
import { DOMID, FixtureRoot, treeDiff, xapiControl } from "./support.ts";
import { Lines } from "../support/lines.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const BUN = process.execPath;

interface Agent {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  err: Lines;
  out: Lines;
}

const live = new Set<Agent>();
afterEach(() => {
  for (const a of live) a.proc.kill("SIGKILL");
  live.clear();
});

function spawnAgent(args: string[], env: Record<string, string> = {}): Agent {
  const proc = Bun.spawn([BUN, MAIN, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
  });
  const a: Agent = { proc, err: new Lines(proc.stderr), out: new Lines(proc.stdout) };
  live.add(a);
  return a;
}

/** Sends `signal` and resolves with the exit code and how long exiting took. */
async function signalAndWait(a: Agent, signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> {
  const t0 = performance.now();
  a.proc.kill(signal);
  const code = await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => null)]);
  live.delete(a);
  return { code, ms: performance.now() - t0 };
}

/** systemd's side of NOTIFY_SOCKET: an abstract datagram socket collecting what the agent sends. */
class NotifySocket {
  readonly name = `@xga-notify-test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  readonly messages: string[] = [];
  private readonly fd: number;
  private readonly reader;
  private waiters: { re: RegExp; resolve(): void }[] = [];

  constructor() {
    const c = libc();
    this.fd = check(c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
    const { addr, length } = sockaddrUn(this.name);
    check(c.bind(this.fd, addr, length), "bind");
    this.reader = readSocket(this.fd, {
      data: (chunk) => {
        this.messages.push(Buffer.from(chunk).toString());
        for (const w of [...this.waiters]) {
          if (this.messages.some((m) => w.re.test(m))) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      },
      error: () => true,
      end: () => {},
    });
  }

  waitFor(re: RegExp, ms = 5000): Promise<void> {
    if (this.messages.some((m) => re.test(m))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { re, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no notification matching ${re} within ${ms} ms; got ${JSON.stringify(this.messages)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  close(): void {
    this.reader.stop();
    libc().close(this.fd);
  }
}

const root = new FixtureRoot();
afterAll(() => root.remove());

/**
 * What an agent with default options should publish for `dir`: the same collectors, run here, and
 * the feature keys of the host requests it serves by default (XAPI's writable control/).
 */
async function truthFor(dir: string): Promise<Map<string, string>> {
  const tree = await factTreeFor(dir);
  for (const type of requestTypes({ describe: () => [], extra: [staticIpType({ net: undefined as never, root: new HostRoot(dir), log: silentLogger })] })) {
    tree.set(type.feature, "1");
  }
  return tree;
}

async function factTreeFor(dir: string): Promise<Map<string, string>> {
  const { config } = resolveConfig({ cli: { root: dir }, env: {} });
  const hostRoot = new HostRoot(dir);
  const vcpu = new VcpuCollector({ root: hostRoot, log: silentLogger });
  const vcpus = vcpu.start();
  vcpu.stop();
  return new TreeBuilder(config).build({
    ...collectStaticFacts(hostRoot, timedCollectors(hostRoot, silentLogger), silentLogger),
    network: await collectNetworkOnce(hostRoot, silentLogger),
    volumes: collectVolumesOnce(hostRoot, silentLogger),
    vcpus,
  });
}

describe("signals (console publisher)", () => {
  test("SIGTERM: exit 0 within 2 s", async () => {
    const a = spawnAgent(["run", "--publisher", "console", "-s", "--root", root.dir]);
    await a.err.waitFor(/publishing to console/);
    const { code, ms } = await signalAndWait(a, "SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000);
    expect(a.err.all.some((l) => l.includes("SIGTERM: stopping"))).toBe(true);
  });

  test("SIGINT: exit 0 within 2 s", async () => {
    const a = spawnAgent(["--publisher", "console", "-s", "--root", root.dir]);
    await a.err.waitFor(/publishing to console/);
    const { code, ms } = await signalAndWait(a, "SIGINT");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000);
  });

  test("SIGHUP reloads the file; a bad file is logged and the old configuration stays", async () => {
    const cfg = join(root.dir, "agent.toml");
    await Bun.write(cfg, "memory-interval = 30\n");
    const a = spawnAgent(["run", "--publisher", "console", "-s", "--root", root.dir, "--config", cfg]);
    await a.err.waitFor(/publishing to console/);
    await Bun.write(cfg, "memory-interval = 40\nextended = true\n");
    let mark = a.err.all.length;
    a.proc.kill("SIGHUP");
    await a.err.waitFor(/configuration reloaded from .*changed: memoryInterval, extended/, 5000, mark);
    await a.err.waitFor(/publishing to console/, 5000, mark);
    await Bun.write(cfg, "memory-interval = 40\n\nextended = perhaps\n");
    mark = a.err.all.length;
    a.proc.kill("SIGHUP");
    const line = await a.err.waitFor(/configuration not reloaded/, 5000, mark);
    expect(line).toContain("line 3");
    expect(a.proc.exitCode).toBeNull();
    const { code } = await signalAndWait(a, "SIGTERM");
    expect(code).toBe(0);
  });

  test("a bad configuration file at start: exit 2 naming the key and line", async () => {
    const cfg = join(root.dir, "bad.toml");
    await Bun.write(cfg, "# agent\nschema = \"std\"\nmemory-intervall = 5\n");
    const a = spawnAgent(["run", "--publisher", "console", "--config", cfg]);
    expect(await a.proc.exited).toBe(2);
    await a.err.waitFor(/line 3: unknown key 'memory-intervall'/);
  });

  test("a missing explicit configuration file: exit 2; `config` prints the effective configuration", async () => {
    const a = spawnAgent(["run", "--config", join(root.dir, "missing.toml")]);
    expect(await a.proc.exited).toBe(2);
    const cfg = join(root.dir, "show.toml");
    await Bun.write(cfg, "coalesce-ms = 25\n");
    const c = spawnAgent(["config", "--config", cfg, "--schema", "rfc"], { XEN_GUEST_AGENT_ROOT: "/host" });
    expect(await c.proc.exited).toBe(0);
    await c.out.waitFor(/^coalesce-ms = 25 +# file /);
    await c.out.waitFor(/^schema = "rfc" +# cli --schema/);
    await c.out.waitFor(/^root = "\/host" +# env XEN_GUEST_AGENT_ROOT/);
    const j = spawnAgent(["config", "--json", "--config", cfg]);
    expect(await j.proc.exited).toBe(0);
    await j.out.waitFor(/^\}$/);
    expect(JSON.parse(j.out.all.join("\n")).options["coalesce-ms"]).toEqual({ value: 25, origin: "file" });
  });
});

describe("against the in-process xenstored, with NOTIFY_SOCKET", () => {
  test("READY=1 after the first publish, WATCHDOG=1, tree equals the truth, SIGHUP, SIGTERM → STOPPING=1 and exit 0", async () => {
    const srv = await TestXenstored.start();
    const notify = new NotifySocket();
    try {
      const guest = srv.addGuest(DOMID);
      xapiControl(srv);
      const froot = new FixtureRoot();
      const a = spawnAgent(["run", "-s", "--root", froot.dir], {
        XENSTORED_PATH: guest,
        NOTIFY_SOCKET: notify.name,
        WATCHDOG_USEC: "200000",
      });
      await notify.waitFor(/^READY=1\nSTATUS=Publishing \d+ keys to socket:/);
      await notify.waitFor(/^WATCHDOG=1$/, 2000);
      // The truth: the same facts gathered here (same network namespace) through the same schema.
      const want = await truthFor(froot.dir);
      expect(treeDiff(srv, want, "std")).toEqual([]);
      expect(readFileSync(join(froot.dir, "sys/power/pm_freeze_timeout"), "utf8")).toBe("300000");

      const mark = a.err.all.length;
      a.proc.kill("SIGHUP");
      await notify.waitFor(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
      await a.err.waitFor(/configuration reloaded/, 5000, mark);

      const { code, ms } = await signalAndWait(a, "SIGTERM");
      expect(code).toBe(0);
      expect(ms).toBeLessThan(2000);
      await notify.waitFor(/^STOPPING=1/);
      froot.remove();
    } finally {
      notify.close();
      await srv.stop();
    }
  });

  test("xenstored drops the connection: the process reconnects and republishes, never exits", async () => {
    const srv = await TestXenstored.start();
    try {
      const guest = srv.addGuest(DOMID);
      xapiControl(srv);
      const a = spawnAgent(["run", "-s", "--root", root.dir], { XENSTORED_PATH: guest });
      await a.err.waitFor(/publishing to socket:/);
      const mark = a.err.all.length;
      srv.faults.dropConnections();
      srv.replaceDomain(DOMID); // and the tree is new, as after a migration
      xapiControl(srv);
      await a.err.waitFor(/reconnected to socket:.*republishing everything/, 5000, mark);
      await a.err.waitFor(/republishing everything \(.*reconnect/, 5000, mark);
      const want = await truthFor(root.dir);
      // The republish lands right after its log line: wait for the store to match.
      const deadline = performance.now() + 5000;
      while (treeDiff(srv, want, "std").length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(treeDiff(srv, want, "std")).toEqual([]);
      expect(a.proc.exitCode).toBeNull();
      expect((await signalAndWait(a, "SIGTERM")).code).toBe(0);
    } finally {
      await srv.stop();
    }
  });
});
