// The supervised agent against every xenstored the suite can run: the in-process server (C and
// oxenstored flavours) and the real Debian xenstored and oxenstored through the shim. The test plays
// the toolstack over the privileged socket: it builds the domain, wipes the agent's keys as a
// migration would, writes a new unique-domain-id, and reads the tree back to compare it with the
// agent's facts. A daemon that cannot run here is skipped with the reason printed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TreeBuilder } from "../../src/schema/index.ts";
import { resolveConfig } from "../../src/config/options.ts";
import { defaultConnector } from "../../src/lifecycle/links.ts";
import { ReloadableLogger } from "../../src/log/reloadable.ts";
import { Supervisor } from "../../src/lifecycle/supervisor.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { socketClient } from "../xenstore/helpers.ts";
import { targets, type RunningTarget } from "../xenstore/targets.ts";
import { collectingLogger, FixtureRoot } from "./support.ts";

/** Every node under `home` (relative path → value), read through the dom0 connection. */
async function readTree(dom0: XenstoreClient, home: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? `${home}/${rel}` : home;
    if (rel) out.set(rel, await dom0.read(abs));
    for (const child of await dom0.directory(abs)) await walk(rel ? `${rel}/${child}` : child);
  };
  await walk("");
  return out;
}

for (const target of targets) {
  if (target.unavailable) console.log(`skip lifecycle on ${target.name}: ${target.unavailable}`);

  describe.skipIf(target.unavailable !== undefined)(`lifecycle on ${target.name}`, () => {
    let running: RunningTarget;
    let dom0: XenstoreClient;
    let sup: Supervisor;
    let home: string;
    let skeleton: Set<string>;
    const root = new FixtureRoot();
    const log = collectingLogger();
    let republished: ((reasons: string[]) => void) | undefined;

    const truth = () => new TreeBuilder(sup.config).build(sup.current!.pipeline.snapshot());
    /** The agent's nodes: everything the fresh domain did not have. */
    const agentNodes = async () => {
      const all = await readTree(dom0, home);
      return new Map([...all].filter(([k]) => !skeleton.has(k) && k !== "unique-domain-id"));
    };
    const diff = async (): Promise<string[]> => {
      const want = truth();
      const have = await agentNodes();
      const lines: string[] = [];
      for (const [k, v] of want) if (have.get(k) !== v) lines.push(`missing/wrong ${k}: want ${JSON.stringify(v)} have ${JSON.stringify(have.get(k))}`);
      for (const [k, v] of have) {
        const isParent = [...have.keys()].some((o) => o.startsWith(`${k}/`));
        if (k !== "data/updated" && !want.has(k) && !(isParent && v === "")) lines.push(`extra ${k}`);
      }
      return lines;
    };
    /** Waits for the next trigger republish to finish, then for the tree to equal the truth. */
    const nextRepublish = () =>
      new Promise<string[]>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no republish within 2 s")), 2000);
        republished = (reasons) => {
          clearTimeout(t);
          republished = undefined;
          resolve(reasons);
        };
      });

    let publishedListener: (() => void) | undefined;
    /** Resolves once the tree equals the truth, re-checking after each publish. */
    const convergedWithin = async (ms: number): Promise<void> => {
      const deadline = performance.now() + ms;
      for (;;) {
        const next = new Promise<void>((resolve) => (publishedListener = resolve));
        const d = await diff();
        if (d.length === 0) return;
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`not converged within ${ms} ms:\n  ${d.join("\n  ")}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([next, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
        clearTimeout(timer);
      }
    };

    beforeAll(async () => {
      running = await target.start();
      dom0 = socketClient(running.dom0SocketPath);
      home = `/local/domain/${running.domid}`;
      // XAPI's writable control/ and a unique-domain-id, as xenopsd builds a domain.
      await dom0.setPerms(`${home}/control`, [`n${running.domid}`]);
      await dom0.write(`${home}/unique-domain-id`, "aaaaaaaa-0000-0000-0000-000000000001");
      skeleton = new Set((await readTree(dom0, home)).keys());
      const { config, origin } = resolveConfig({ cli: { root: root.dir, "memory-interval": 3600 }, env: {} });
      const loaded = { config, origin, file: { path: "(test)", explicit: false, found: false, values: {} } };
      let watching: () => void = () => {};
      const watched = new Promise<void>((resolve) => (watching = resolve));
      sup = new Supervisor({
        loaded,
        reload: () => loaded,
        log: new ReloadableLogger(log),
        connect: defaultConnector({ XENSTORED_PATH: running.guestSocketPath }),
        settleMs: 20,
      });
      sup.events.watching = () => watching();
      sup.events.republished = (reasons) => republished?.(reasons);
      sup.events.published = () => publishedListener?.();
      await sup.start();
      await watched;
    }, 30_000);

    afterAll(async () => {
      await sup?.stop();
      dom0?.close();
      await running?.stop();
      root.remove();
    });

    test("first publish equals the truth", async () => {
      expect(await diff()).toEqual([]);
    });

    test("keys removed by dom0 are written again by the agent itself, then a new unique-domain-id: one republish", async () => {
      const before = await agentNodes();
      for (const k of before) if (!k[0].includes("/") || skeleton.has(k[0].slice(0, k[0].lastIndexOf("/")))) await dom0.rm(`${home}/${k[0]}`).catch(() => {});
      // Restored through the watches on the agent's roots, without a trigger or a full republish.
      await convergedWithin(3000);
      expect(sup.republishes).toBe(0);
      const keys = (m: Map<string, string>) => [...m.keys()].filter((k) => k !== "data/updated").sort();
      expect(keys(await agentNodes())).toEqual(keys(before));
      const done = nextRepublish();
      await dom0.write(`${home}/unique-domain-id`, "aaaaaaaa-0000-0000-0000-000000000002");
      expect(await done).toEqual(["unique-domain-id"]);
      expect(await diff()).toEqual([]);
      expect(sup.republishes).toBe(1);
    });

    test("the resume sentinel's watch firing again (written and removed by dom0): republished", async () => {
      const before = sup.republishes;
      const done = nextRepublish();
      await dom0.write(`${home}/xen-guest-agent-resume-sentinel`, "");
      await dom0.rm(`${home}/xen-guest-agent-resume-sentinel`);
      expect(await done).toEqual(["resume-watch"]);
      expect(await diff()).toEqual([]);
      expect(sup.republishes).toBe(before + 1);
    });

    test("no errors logged", () => {
      expect(log.lines.filter((l) => l.level === "error")).toEqual([]);
    });
  });
}
