// The request channel against every xenstored the suite can run (in-process C and oxenstored
// flavours, the real C xenstored and oxenstored through the shim), with libxl's permissions and
// with XAPI's guest-writable control/. dom0 asks the way `xen-guest-agent host` does.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RequestChannel } from "../../src/requests/channel.ts";
import { resolvePolicy } from "../../src/config/request-policy.ts";
import { requestTypes } from "../../src/requests/registry.ts";
import type { Outcome, RequestType } from "../../src/requests/types.ts";
import { sendQuery } from "../../src/host/query.ts";
import { HostRequestError, waitFor } from "../../src/host/domain.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { socketClient } from "../xenstore/helpers.ts";
import { targets, type RunningTarget } from "../xenstore/targets.ts";
import { collectingLogger } from "../lifecycle/support.ts";

const readOr = (c: XenstoreClient, p: string) => c.read(p).catch(() => undefined);

/** The value at `path` once `accept` takes it (watched, never polled), or a failure after 2 s. */
async function valueAt(c: XenstoreClient, path: string, accept: (v: string) => boolean): Promise<string> {
  const v = await waitFor(c, path, async () => {
    const value = await readOr(c, path);
    return value !== undefined && accept(value) ? value : undefined;
  }, 2000);
  if (v === undefined) throw new Error(`nothing acceptable at ${path} within 2 s`);
  return v;
}

/** A type that counts what it carries out: requests at data/count-test/<n> = value. */
function countingType(handled: string[]): RequestType<string> {
  return {
    name: "ping", // reuses an allowed policy key
    feature: "control/feature-count-test",
    featureFallback: "data/feature-count-test",
    watch: ["data/count-test"],
    writers: "dom0-or-guest",
    async pending(tx) {
      const kids = await tx.directory("data/count-test").catch(() => [] as string[]);
      const out = [];
      for (const k of kids) {
        if (k.endsWith("-done")) continue;
        const v = await tx.read(`data/count-test/${k}`);
        out.push({ slot: k, signature: v, node: `data/count-test/${k}`, summary: k, parsed: { ok: true as const, request: v } });
      }
      return out;
    },
    async handle(r): Promise<Outcome> {
      handled.push(r);
      return { ok: true, message: "" };
    },
    async answer(tx, r) {
      await tx.write(`data/count-test/${r.slot}-done`, r.signature);
    },
  };
}

for (const target of targets) {
  for (const layout of ["xl", "xapi"] as const) {
    describe.skipIf(target.unavailable !== undefined)(`request channel on ${target.name}, ${layout} permissions`, () => {
      let running: RunningTarget;
      let dom0: XenstoreClient;
      let guest: XenstoreClient;
      let channel: RequestChannel;
      let home: string;
      const log = collectingLogger();

      beforeAll(async () => {
        running = await target.start();
        dom0 = socketClient(running.dom0SocketPath);
        home = `/local/domain/${running.domid}`;
        if (layout === "xapi") await dom0.setPerms(`${home}/control`, [`n${running.domid}`]);
        guest = socketClient(running.guestSocketPath);
        let ch: RequestChannel | undefined;
        const types = requestTypes({ describe: () => ch?.describe() ?? [] });
        ch = channel = new RequestChannel({ client: guest, types, policy: resolvePolicy({ info: false }), log });
        await channel.start();
      });
      afterAll(async () => {
        await channel?.withdraw();
        guest?.close();
        dom0?.close();
        await running?.stop();
      });

      test("served types are advertised where the guest may write; denied ones are not", async () => {
        const pingKey = layout === "xapi" ? "control/feature-ping" : "data/feature-ping";
        expect(await readOr(dom0, `${home}/${pingKey}`)).toBe("1");
        expect(await readOr(dom0, `${home}/control/feature-info`)).toBeUndefined();
        expect(await readOr(dom0, `${home}/data/feature-info`)).toBeUndefined();
      });

      test("ping from dom0 is answered with the request's id", async () => {
        const { reply, roundTripMs } = await sendQuery(dom0, running.domid, "ping", 2000);
        expect(reply.ok).toBe(true);
        expect(typeof reply.version).toBe("string");
        expect(roundTripMs).toBeGreaterThanOrEqual(0);
        // dom0 removed its request afterwards
        expect(await readOr(dom0, `${home}/control/ping/request`)).toBeUndefined();
      });

      test("a denied type is answered with 'disabled in configuration', and dom0 is told it is not served", async () => {
        await expect(sendQuery(dom0, running.domid, "info", 1000)).rejects.toBeInstanceOf(HostRequestError);
        // A request written anyway gets the error, not silence.
        const path = `${home}/control/info/request`;
        await dom0.write(path, "");
        await dom0.setPerms(path, ["n0", `r${running.domid}`]);
        await dom0.write(path, JSON.stringify({ id: "denied-1" }));
        const reply = await valueAt(dom0, `${home}/data/info/reply`, (v) => v.includes("denied-1"));
        expect(JSON.parse(reply!)).toMatchObject({ id: "denied-1", ok: false });
        expect(JSON.parse(reply!).error).toContain("disabled in this guest's configuration");
        await dom0.rm(path);
      });

      test.if(layout === "xapi")("a request the guest wrote itself in control/ is refused (owner is not dom0)", async () => {
        await guest.write("control/ping/request", JSON.stringify({ id: "forged-1" }));
        const reply = await valueAt(dom0, `${home}/data/ping/reply`, (v) => v.includes("forged-1"));
        expect(JSON.parse(reply!)).toMatchObject({ id: "forged-1", ok: false });
        expect(JSON.parse(reply!).error).toContain("not dom0");
        await guest.rm("control/ping/request");
      });

      test("a request seen again (republish, same content) is carried out once; a new one again", async () => {
        const handled: string[] = [];
        const ch = new RequestChannel({ client: guest, types: [countingType(handled)], policy: resolvePolicy(undefined), log });
        await ch.start();
        await dom0.write(`${home}/data/count-test/a`, "one");
        const done = (v: string) => valueAt(dom0, `${home}/data/count-test/a-done`, (x) => x === v);
        await done("one");
        ch.republished();
        ch.republished();
        await ch.idle();
        expect(handled).toEqual(["one"]);
        await dom0.write(`${home}/data/count-test/a`, "two");
        await done("two");
        expect(handled).toEqual(["one", "two"]);
        await ch.withdraw();
        expect(await readOr(dom0, `${home}/control/feature-count-test`)).toBeUndefined();
        expect(await readOr(dom0, `${home}/data/feature-count-test`)).toBeUndefined();
      });

      test("with nothing pending, start and republish open no transaction; a request is read in one", async () => {
        // While any transaction is open C xenstored debits every guest's writes (its write rate
        // limit): a fleet of agents scanning in transactions slowed each other's republish.
        await dom0.rm(`${home}/data/count-test`).catch(() => {}); // what earlier tests left
        const handled: string[] = [];
        let transactions = 0;
        const counted = Object.assign(Object.create(guest) as XenstoreClient, {
          transaction: ((body: Parameters<XenstoreClient["transaction"]>[0]) => (transactions++, guest.transaction(body))) as XenstoreClient["transaction"],
        });
        const ch = new RequestChannel({ client: counted, types: [countingType(handled)], policy: resolvePolicy(undefined), log });
        await ch.start();
        ch.republished();
        await ch.idle();
        expect(transactions).toBe(0);
        await dom0.write(`${home}/data/count-test/t`, "tx");
        await valueAt(dom0, `${home}/data/count-test/t-done`, (x) => x === "tx");
        await ch.idle();
        expect(handled).toEqual(["tx"]);
        // The read and the answer; this test type lists answered requests too, so the answer's own
        // watch event may cost one more read.
        expect(transactions).toBeGreaterThanOrEqual(2);
        await ch.withdraw();
        await dom0.rm(`${home}/data/count-test`);
      });

      test("withdraw removes the feature keys it wrote", async () => {
        await channel.withdraw();
        for (const k of ["control/feature-ping", "data/feature-ping"]) expect(await readOr(dom0, `${home}/${k}`)).toBeUndefined();
        await expect(sendQuery(dom0, running.domid, "ping", 500)).rejects.toBeInstanceOf(HostRequestError);
      });
    });
  }
}
