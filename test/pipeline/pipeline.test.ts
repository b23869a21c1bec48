import { describe, expect, test } from "bun:test";
import { Pipeline } from "../../src/pipeline/pipeline.ts";
import type { SchemaConfig } from "../../src/schema/index.ts";
import type { Facts } from "../../src/facts/facts.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { BASE_FACTS, netInterface, v4, vif } from "../support/facts.ts";
import { RecordingTarget } from "../support/recording-target.ts";

const STD: SchemaConfig = { schema: "std", extended: false, include: [], exclude: [], linkLocal: true };

function agentWith(facts: Facts, config: SchemaConfig = STD) {
  const target = new RecordingTarget();
  const agent = new Pipeline({ clock: () => "Thu Dec  3 12:00:00 2026", config, facts, target, log: silentLogger });
  return { agent, target };
}

describe("Pipeline", () => {
  test("a simulated day of memory ticks writes data/meminfo_free once per changed tick and nothing else", async () => {
    const { agent, target } = agentWith(BASE_FACTS);
    agent.schedule();
    await agent.idle();
    target.take();
    const ticks = 24 * 60; // one per minute
    for (let i = 1; i <= ticks; i++) {
      agent.update("memory", { totalKiB: BASE_FACTS.memory!.totalKiB, freeKiB: 3_000_000 + i });
      await agent.idle();
    }
    const writes = target.take();
    expect(writes.length).toBe(ticks);
    expect(writes.every((w) => w.startsWith("+ data/meminfo_free = "))).toBe(true);
  });

  test("with memory flat nothing at all is written", async () => {
    const { agent, target } = agentWith(BASE_FACTS);
    agent.schedule();
    await agent.idle();
    target.take();
    for (let i = 0; i < 500; i++) {
      agent.update("memory", { ...BASE_FACTS.memory! });
      agent.update("host", { ...BASE_FACTS.host! });
      await agent.idle();
    }
    expect(target.take()).toEqual([]);
  });

  test("updates in the same tick become one publish", async () => {
    const { agent, target } = agentWith(BASE_FACTS);
    let publishes = 0;
    agent.onPublished = () => publishes++;
    agent.schedule();
    await agent.idle();
    publishes = 0;
    target.take();
    agent.update("memory", { totalKiB: 1, freeKiB: 1 });
    agent.update("host", { hostName: "other", domain: "" });
    await agent.idle();
    expect(publishes).toBe(1);
    expect(target.take().filter((l) => l.startsWith("+ data/updated")).length).toBe(1);
  });

  test("an interface disappearing removes its subtree; republish() into an empty tree rewrites everything", async () => {
    const eth0 = netInterface(vif(0, "eth0", [v4("10.0.0.2")]));
    const eth1 = netInterface(vif(1, "eth1", [v4("10.0.1.2")]));
    const { agent, target } = agentWith({ ...BASE_FACTS, network: { interfaces: [eth0, eth1] } });
    agent.schedule();
    await agent.idle();
    expect(target.store.get("attr/vif/1/ipv4/0")).toBe("10.0.1.2");
    agent.update("network", { interfaces: [eth0] });
    await agent.idle();
    expect([...target.store.keys()].some((k) => k.startsWith("attr/vif/1"))).toBe(false);
    const before = new Map(target.store);
    target.store.clear(); // the domain's tree was replaced (migration)
    agent.republish();
    await agent.idle();
    const after = new Map(target.store);
    after.delete("data/updated");
    before.delete("data/updated");
    expect(after).toEqual(before);
  });

  test("a restarted agent reads back what the first wrote: same indices, nothing rewritten, nothing removed", async () => {
    const eth0 = netInterface(vif(0, "eth0", [v4("169.254.1.1", 16, { scope: "link" }), v4("10.0.0.2")]));
    const facts = { ...BASE_FACTS, network: { interfaces: [eth0] } };
    const first = agentWith(facts);
    first.agent.schedule();
    await first.agent.idle();
    expect(first.target.store.get("attr/vif/0/ipv4/0")).toBe("10.0.0.2");
    first.agent.stop();
    first.target.take();

    // The second agent publishes to the same tree, starting from what it finds there.
    const second = new Pipeline({ clock: () => "later", config: STD, facts, target: first.target, log: silentLogger });
    second.republish(async () => new Map(first.target.store));
    await second.idle();
    expect(first.target.take()).toEqual([]);
    expect(first.target.store.get("attr/vif/0/ipv4/0")).toBe("10.0.0.2");
    expect(first.target.store.get("attr/vif/0/ipv4/1")).toBe("169.254.1.1");
  });
});
