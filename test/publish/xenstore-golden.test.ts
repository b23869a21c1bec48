// Acceptance for publishing: against the in-process server and the real C and OCaml xenstored,
// as a guest (through the ring bridge for the real ones), the tree after start, after address churn, after an interface disappears and after an
// agent restart equals the golden tree for the same facts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Pipeline } from "../../src/pipeline/pipeline.ts";
import type { SchemaConfig } from "../../src/schema/index.ts";
import type { Facts } from "../../src/facts/facts.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { xenstoreTarget } from "../../src/publish/xenstore-target.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { connectXenstore } from "../../src/xenstore/connect.ts";
import { BASE_FACTS, netInterface, v4, v6, vif } from "../support/facts.ts";
import { readGuestMetrics } from "../support/xapi-reader.ts";
import { readAgentTree } from "../support/xenstore-tree.ts";
import { connectGuestWhenReady } from "../support/xenstored.ts";
import { socketClient } from "../xenstore/helpers.ts";
import { targets, type RunningTarget } from "../xenstore/targets.ts";

const STD: SchemaConfig = { schema: "std", extended: false, include: [], exclude: [], linkLocal: true };

function golden(agentTree: Map<string, string>): Record<string, string> {
  const expected = Object.fromEntries([...agentTree].filter(([k]) => k !== "data/updated"));
  return Object.fromEntries(Object.entries(expected).sort(([a], [b]) => a.localeCompare(b)));
}

for (const target of targets) {
  const unavailable = target.unavailable;
  if (unavailable) console.log(`skipped: publishing to ${target.name}: ${unavailable}`);
  describe.skipIf(unavailable !== undefined)(`publishing to ${target.name} as a guest`, () => {
    let xsd: RunningTarget;
    let dom0: XenstoreClient;
    let base: string;

    beforeAll(async () => {
      xsd = await target.start();
      dom0 = await connectXenstore({ kind: "socket", path: xsd.dom0SocketPath });
      base = `/local/domain/${xsd.domid}`;
    });
    afterAll(async () => {
      dom0?.close();
      await xsd?.stop();
    });

    async function publishWith(facts: Facts, client: XenstoreClient, agent?: Pipeline): Promise<Pipeline> {
      const a = agent ?? new Pipeline({ clock: () => "Thu Dec  3 12:00:00 2026", config: STD, facts, target: xenstoreTarget(client), log: silentLogger });
      if (agent) a.update("network", facts.network);
      a.schedule();
      await a.idle();
      return a;
    }

    test("start, churn, interface gone, restart: the tree equals the golden tree each time", async () => {
      const eth0 = netInterface(vif(0, "eth0", [v4("10.0.0.2"), v6("fe80::216:3eff:fe00:1")]));
      const eth1 = netInterface(vif(1, "eth1", [v4("10.0.1.2")]));
      let facts: Facts = { ...BASE_FACTS, network: { interfaces: [eth0, eth1] } };
      const guest = await connectXenstore({ kind: "socket", path: xsd.guestSocketPath });
      const agent = await publishWith(facts, guest);
      const check = async () => {
        const actual = await readAgentTree(dom0, base);
        expect(actual.has("data/updated")).toBe(true);
        // control/ is read-only for a libxl guest: feature-balloon is left out, not retried
        const desired = new Map([...agent.desiredTree()].filter(([k]) => !k.startsWith("control/")));
        expect(golden(actual)).toEqual(golden(desired));
        return actual;
      };
      const first = await check();
      expect(readGuestMetrics(first).networks).toMatchObject({ "0/ip": "10.0.0.2", "1/ip": "10.0.1.2" });

      // churn: add, remove, add again
      for (const addrs of [[v4("10.0.0.2"), v4("10.0.0.3")], [v4("10.0.0.3")], [v4("10.0.0.3"), v4("10.0.0.4")]]) {
        facts = { ...facts, network: { interfaces: [{ ...eth0, addresses: addrs }, eth1] } };
        await publishWith(facts, guest, agent);
        await check();
      }
      // an interface disappears
      facts = { ...facts, network: { interfaces: [{ ...eth0, addresses: [v4("10.0.0.3")] }] } };
      await publishWith(facts, guest, agent);
      const gone = await check();
      expect([...gone.keys()].some((k) => k.startsWith("attr/vif/1"))).toBe(false);
      guest.close();

      // agent restart: stale subtrees removed, then a full publish of the same facts
      // The ring bridge may refuse a client arriving right after another left (a real device does not).
      const again = await connectGuestWhenReady(xsd.guestSocketPath, socketClient);
      await again.rm("attr/vif");
      const restarted = await publishWith(facts, again);
      const after = await readAgentTree(dom0, base);
      const desired = new Map([...restarted.desiredTree()].filter(([k]) => !k.startsWith("control/")));
      expect(golden(after)).toEqual(golden(desired));
      again.close();
    });
  });
}
