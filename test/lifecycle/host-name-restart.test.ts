// A restart after a host-name change (issue 19 #5), on the in-process xenstored: the previous
// name's data/host_name_dns and data/domain must not stay behind, a 64-character name is
// published, and a name that cannot be published is left out with one warning saying why.
import { afterEach, describe, expect, test } from "bun:test";
import { FixtureRoot, Harness } from "./support.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function agentNamed(name: string, etcHostname?: string): Promise<Harness> {
  const root = new FixtureRoot({ "proc/sys/kernel/hostname": `${name}\n`, ...(etcHostname ? { "etc/hostname": `${etcHostname}\n` } : {}) });
  const harness = new Harness({ root, uniqueDomainId: "11111111-1111-1111-1111-111111111111" });
  await harness.start();
  await harness.converged();
  return harness;
}

describe("a restart after a host-name change", () => {
  test("to a 64-character name: it is published, the old domain is removed", async () => {
    h = await agentNamed("old.example.org");
    expect(h.published().get("data/host_name_dns")).toBe("old");
    expect(h.published().get("data/domain")).toBe("example.org");
    h.root.write({ "proc/sys/kernel/hostname": `${"n".repeat(64)}\n` });
    await h.restartAgent();
    await h.converged();
    expect(h.published().get("data/host_name_dns")).toBe("n".repeat(64));
    expect(h.published().has("data/domain")).toBe(false);
  }, 20_000);

  test("to a name that cannot be published: both keys removed (not etc/hostname's old name), one warning", async () => {
    h = await agentNamed("old.example.org", "old.example.org");
    h.root.write({ "proc/sys/kernel/hostname": "new name\n" });
    await h.restartAgent();
    await h.converged();
    expect(h.published().has("data/host_name_dns")).toBe(false);
    expect(h.published().has("data/domain")).toBe(false);
    const why = h.log.lines.filter((l) => l.level === "warn" && l.message.includes("the host name is not published"));
    expect(why).toHaveLength(1);
    expect(why[0]!.message).toContain('"new name"');
  }, 20_000);
});
