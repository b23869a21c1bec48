// static-ip end to end on real parts: the agent process runs in a network namespace (a veth pair
// stands in for the VIF: `dummy` does not exist here) against the real C xenstored and oxenstored
// with a guest ring; the test plays xenopsd through dom0's socket with the code `host static-ip`
// uses, and checks the kernel's own view (`ip -j`) and what the agent published.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { sendStaticIp, type FamilySetting } from "../../src/host/static-ip.ts";
import { waitFor } from "../../src/host/domain.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { socketClient } from "../xenstore/helpers.ts";
import { realXenstoredUnavailable, startRealXenstored, type DaemonKind, type RealXenstored } from "../support/xenstored.ts";
import { announceSkip, netnsUnavailable, TestNetns } from "../collectors/network/support/netns.ts";
import { FixtureRoot } from "../lifecycle/support.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const MAC = "00:16:3e:12:34:56";

interface IpAddr { local: string; prefixlen: number; family: string; protocol?: string }

for (const kind of ["c", "ocaml"] as DaemonKind[]) {
  const why = netnsUnavailable() ?? realXenstoredUnavailable(kind) ?? null;
  const skip = announceSkip(`static-ip process test on ${kind} xenstored`, why);

  describe.skipIf(skip)(`static-ip: agent process in a netns, real ${kind === "c" ? "xenstored" : "oxenstored"}`, () => {
    let xs: RealXenstored;
    let dom0: XenstoreClient;
    let ns: TestNetns;
    let agent: Bun.Subprocess | undefined;
    let stderr = "";
    let home: string;
    const root = new FixtureRoot({
      "sys/class/net/eth0/device/devtype": "vif\n",
      "sys/class/net/eth0/device/nodename": "device/vif/0\n",
    });

    const readOr = (p: string) => dom0.read(`${home}/${p}`).catch(() => undefined);
    const addrs = (): IpAddr[] => {
      const p = Bun.spawnSync(["ip", "-n", ns.name, "-j", "addr", "show", "dev", "eth0"]);
      return ((JSON.parse(p.stdout.toString()) as { addr_info: IpAddr[] }[])[0]?.addr_info ?? []).filter((a) => !a.local.startsWith("fe80"));
    };
    const defaultVia = (family: "4" | "6"): string[] => {
      const p = Bun.spawnSync(["ip", "-n", ns.name, `-${family}`, "-j", "route", "show", "default"]);
      return (JSON.parse(p.stdout.toString() || "[]") as { gateway?: string }[]).map((r) => r.gateway ?? "");
    };
    const featureKey = async () => (await readOr("control/feature-static-ip-setting")) ?? (await readOr("data/feature-static-ip-setting"));
    /** Whether `value` appears in one of the slots under `dir` (attr/vif/0/ipv6/<n>), watched for up to 5 s. */
    const published = (dir: string, value: string) =>
      waitFor(dom0, `${home}/${dir}`, async () => {
        const slots = await dom0.directory(`${home}/${dir}`).catch(() => [] as string[]);
        for (const n of slots) if ((await readOr(`${dir}/${n}`)) === value) return true;
        return undefined;
      }, 5000);

    const startAgent = async () => {
      agent = Bun.spawn(["ip", "netns", "exec", ns.name, process.execPath, MAIN, "run", "-s", "--loglevel", "debug", "--root", root.dir, "--memory-interval", "3600"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", XENSTORED_PATH: xs.guestSocketPath },
        stdout: "ignore",
        stderr: "pipe",
      });
      void new Response(agent.stderr as ReadableStream).text().then((t) => (stderr += t));
      const advertised = await waitFor(dom0, `${home}/data`, async () => ((await featureKey()) === "1" ? true : undefined), 10_000);
      if (!advertised) throw new Error(`the agent did not advertise static-ip: ${stderr}`);
    };
    const stopAgent = async () => {
      agent?.kill("SIGTERM");
      expect(await agent?.exited).toBe(0);
      agent = undefined;
    };
    const ask = (setting: { mac?: string; ipv4?: FamilySetting; ipv6?: FamilySetting }) =>
      sendStaticIp(dom0, xs.domid, 0, { mac: MAC, ...setting }, { timeoutMs: 2000 });

    beforeAll(async () => {
      xs = await startRealXenstored(kind);
      dom0 = socketClient(xs.dom0SocketPath);
      home = `/local/domain/${xs.domid}`;
      ns = new TestNetns("staticip");
      ns.batch([`link add eth0 address ${MAC} type veth peer name peer0`, "link set eth0 up", "link set peer0 up"]);
      await startAgent();
    });
    afterAll(async () => {
      agent?.kill("SIGKILL");
      dom0?.close();
      await xs?.stop();
      ns?.delete();
      root.remove();
    });

    test("IPv4 static: address and default route within 2 s, error-code 0, enabled gone, published under attr/vif/0", async () => {
      const a = await ask({ ipv4: { mode: "1", address: "192.0.2.10/24", gateway: "192.0.2.1" } });
      expect(a).toMatchObject({ errorCode: "0", errorMsg: "" });
      expect(a.elapsedMs).toBeLessThan(2000);
      expect(await readOr(`xenserver/device/vif/0/static-ip-setting/enabled`)).toBeUndefined();
      expect(addrs()).toContainEqual(expect.objectContaining({ local: "192.0.2.10", prefixlen: 24 }));
      expect(defaultVia("4")).toEqual(["192.0.2.1"]);
      expect(await published("attr/vif/0/ipv4", "192.0.2.10")).toBe(true);
    });

    test("a new static setting replaces the agent's previous one (no piling up)", async () => {
      expect((await ask({ ipv4: { mode: "1", address: "192.0.2.20/24", gateway: "192.0.2.254" } })).errorCode).toBe("0");
      expect(addrs().filter((x) => x.family === "inet").map((x) => x.local)).toEqual(["192.0.2.20"]);
      expect(defaultVia("4")).toEqual(["192.0.2.254"]);
    });

    test("the same request again changes nothing and answers 0", async () => {
      expect((await ask({ ipv4: { mode: "1", address: "192.0.2.20/24", gateway: "192.0.2.254" } })).errorCode).toBe("0");
      expect(addrs().filter((x) => x.family === "inet").map((x) => x.local)).toEqual(["192.0.2.20"]);
    });

    test("IPv6 static with a gateway", async () => {
      expect((await ask({ ipv6: { mode: "1", address: "2001:db8::10/64", gateway: "2001:db8::1" } })).errorCode).toBe("0");
      expect(addrs()).toContainEqual(expect.objectContaining({ local: "2001:db8::10", prefixlen: 64 }));
      expect(defaultVia("6")).toEqual(["2001:db8::1"]);
      expect(await published("attr/vif/0/ipv6", "2001:db8::10")).toBe(true);
    });

    test.each([
      ["a malformed address", { ipv4: { mode: "1", address: "192.0.2.300/24" } }, "1", "not an IPv4 address"],
      ["a missing prefix", { ipv4: { mode: "1", address: "192.0.2.30" } }, "1", "no prefix length"],
      ["a gateway outside the subnet", { ipv4: { mode: "1", address: "192.0.2.30/24", gateway: "198.51.100.1" } }, "1", "outside"],
      ["an unknown mode", { ipv4: { mode: "7" as never, address: "192.0.2.30/24" } }, "1", "not 0, 1 or 2"],
      ["an unknown MAC", { mac: "00:16:3e:ff:ff:ff", ipv4: { mode: "1", address: "192.0.2.30/24" } }, "2", "no interface with MAC"],
    ] as const)("%s: non-zero error-code naming the problem, nothing changed", async (_name, setting, code, text) => {
      const before = addrs();
      const a = await ask(setting as never);
      expect(a.errorCode).toBe(code);
      expect(a.errorMsg).toContain(text);
      expect(addrs()).toEqual(before);
    });

    test("a kernel refusal (route through a down link): error-code 3 with the kernel's answer, the address taken back", async () => {
      ns.ip("link", "set", "eth0", "down");
      try {
        const before = addrs().filter((x) => x.family === "inet");
        const a = await ask({ ipv4: { mode: "1", address: "192.0.2.40/24", gateway: "192.0.2.1" } });
        expect(a.errorCode).toBe("3");
        expect(a.errorMsg).toContain("refused");
        expect(addrs().filter((x) => x.family === "inet")).toEqual(before);
      } finally {
        ns.ip("link", "set", "eth0", "up");
      }
    });

    test("the dom0 commands: host ping, host info, host static-ip (exit codes, --json)", async () => {
      const host = (...args: string[]) => {
        const p = Bun.spawnSync([process.execPath, MAIN, "host", ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", XENSTORED_PATH: xs.dom0SocketPath } });
        return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
      };
      const ping = host("ping", String(xs.domid), "--json");
      expect(ping.code).toBe(0);
      expect(JSON.parse(ping.out)).toMatchObject({ domid: xs.domid, ok: true });
      const info = host("info", String(xs.domid), "--json");
      expect(info.code).toBe(0);
      expect(JSON.parse(info.out).types.map((t: { name: string }) => t.name)).toEqual(["static-ip", "fsfreeze", "ping", "info"]);
      const set = host("static-ip", String(xs.domid), "--mac", MAC, "--address", "192.0.2.50/24", "--json");
      expect(set.code).toBe(0);
      expect(addrs().map((x) => x.local)).toContain("192.0.2.50");
      const bad = host("static-ip", String(xs.domid), "--mac", MAC, "--address", "192.0.2.50/24", "--gateway", "10.0.0.1");
      expect(bad.code).toBe(1);
      expect(bad.out).toContain("error-code 1");
      expect(host("ping", "no-such-guest").code).toBe(1);
      expect(host("static-ip", String(xs.domid)).code).toBe(2);
    });

    test("after SIGTERM the feature key is gone; after a restart it is back, and the agent still knows its own addresses", async () => {
      await stopAgent();
      expect(await featureKey()).toBeUndefined();
      await startAgent();
      // 0: remove what the agent configured (marked proto 88, so a new process recognises it);
      // an address the guest configured itself stays.
      ns.ip("addr", "add", "198.51.100.5/24", "dev", "eth0");
      expect((await ask({ ipv4: { mode: "0" } })).errorCode).toBe("0");
      expect(addrs().filter((x) => x.family === "inet").map((x) => x.local)).toEqual(["198.51.100.5"]);
      expect(defaultVia("4")).toEqual([]);
    });

    test("2 (DHCP / autoconf) takes away only the agent's configuration", async () => {
      ns.ip("-6", "addr", "add", "2001:db8:1::5/64", "dev", "eth0");
      expect((await ask({ ipv6: { mode: "2" } })).errorCode).toBe("0");
      const v6 = addrs().filter((x) => x.family === "inet6").map((x) => x.local);
      expect(v6).toEqual(["2001:db8:1::5"]);
      expect(defaultVia("6")).toEqual([]);
    });
  });
}
