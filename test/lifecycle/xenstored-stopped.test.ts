// The real C xenstored stopped (SIGSTOP) for longer than --xenstore-timeout, as a wedged daemon or
// ring would be: the request waiting on it times out, the agent reopens the link once the daemon is
// back, registers its watches again, and a migration afterwards is still noticed (issue 19 #2:
// the unique-domain-id watch used to be gone for good).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/options.ts";
import { defaultConnector } from "../../src/lifecycle/links.ts";
import { Supervisor } from "../../src/lifecycle/supervisor.ts";
import { ReloadableLogger } from "../../src/log/reloadable.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { realXenstoredUnavailable, startRealXenstored, type RealXenstored } from "../support/xenstored.ts";
import { socketClient } from "../xenstore/helpers.ts";
import { collectingLogger, FixtureRoot } from "./support.ts";

const unavailable = realXenstoredUnavailable("c");
if (unavailable) console.log(`skip xenstored stopped longer than the timeout: ${unavailable}`);

let xsd: RealXenstored;
let dom0: XenstoreClient;
let sup: Supervisor;
let jump: () => void = () => {};
const root = new FixtureRoot();
const log = collectingLogger();

/** Resolves on the supervisor's next `kind` event (bounded). */
function next<K extends "disconnected" | "reconnected" | "watching" | "republished">(kind: K, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${kind}' within ${ms} ms`)), ms);
    (sup.events as Record<string, unknown>)[kind] = (arg: unknown) => {
      clearTimeout(timer);
      (sup.events as Record<string, unknown>)[kind] = undefined;
      resolve(arg);
    };
  });
}

beforeAll(async () => {
  if (unavailable) return;
  xsd = await startRealXenstored("c", { domid: 9 });
  dom0 = socketClient(xsd.dom0SocketPath);
  const home = `/local/domain/${xsd.domid}`;
  await dom0.setPerms(`${home}/control`, [`n${xsd.domid}`]);
  await dom0.write(`${home}/unique-domain-id`, "cccccccc-0000-0000-0000-000000000001");
  const { config, origin } = resolveConfig({ cli: { root: root.dir, "memory-interval": 3600, "xenstore-timeout": 1 }, env: {} });
  const loaded = { config, origin, file: { path: "(test)", explicit: false, found: false, values: {} } };
  sup = new Supervisor({
    loaded,
    reload: () => loaded,
    log: new ReloadableLogger(log),
    connect: defaultConnector({ XENSTORED_PATH: xsd.guestSocketPath }),
    settleMs: 20,
    backoff: { initialMs: 50, maxMs: 500 },
    clockJumps: (onJump) => {
      jump = onJump;
      return { close() {} };
    },
  });
  const watching = next("watching", 10_000);
  await sup.start();
  await watching;
}, 30_000);

afterAll(async () => {
  await sup?.stop();
  dom0?.close();
  await xsd?.stop();
  root.remove();
});

test.skipIf(unavailable !== undefined)("stopped for 3 s with a 1 s timeout: link reopened, watches back, a later migration republished", async () => {
  const disconnected = next("disconnected", 5000);
  let reconnected: Promise<unknown> = Promise.resolve();
  let watching: Promise<unknown> = Promise.resolve();
  xsd.signal("SIGSTOP");
  try {
    jump(); // the clock-step check sends one READ, which the stopped daemon never answers
    expect(String(await disconnected)).toContain("no reply within 1000 ms");
    reconnected = next("reconnected", 15_000);
    watching = next("watching", 15_000);
    // Reconnect attempts fail or hang while it is stopped; the stop lasts well past the timeout.
    await new Promise((resolve) => setTimeout(resolve, 2000));
  } finally {
    xsd.signal("SIGCONT");
  }
  await reconnected;
  await watching;
  const republished = next("republished", 5000);
  await dom0.write(`/local/domain/${xsd.domid}/unique-domain-id`, "cccccccc-0000-0000-0000-000000000002");
  // The reconnect's own republish may come first; the new id must cause one too.
  const reasons = await republished;
  if (!(reasons as string[]).includes("unique-domain-id")) expect(await next("republished", 5000)).toEqual(["unique-domain-id"]);
  expect(sup.state).toBe("connected");
  expect(log.lines.filter((l) => l.level === "error" && !/publish failed/.test(l.message))).toEqual([]);
}, 40_000);
