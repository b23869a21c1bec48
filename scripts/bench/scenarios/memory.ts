// memory: RSS / RssAnon at rest, agent and baseline side by side, repeated, over the socket and
// the device transport.
import { monotonicNs } from "../../../native/monotonic.ts";
import { SETTLE_AFTER_HEAVY_WORK_MS } from "../../../src/lifecycle/service-status.ts";
import { median, round, type Memory } from "../lib.ts";
import { ptyRelayUnavailable } from "../rig.ts";
import { mib, ms, rowsOf, startAgent, type Context, type Outcome, type Rig, type Scope } from "../scenario.ts";
import { judge, TARGETS } from "../targets.ts";

/** The agent gives back its start-up pages this long after the first publish (src/cli/run.ts). */
const STARTUP_SETTLE_S = SETTLE_AFTER_HEAVY_WORK_MS / 1000;
const MEMORY_INTERVAL_S = 5;

interface MemoryRun {
  /** 3 s after the first publish: what start-up mapped, before the agent gives pages back. */
  startup: Memory;
  /** After the settle, an address added and removed, and memory ticks with MemAvailable moving. */
  rest: Memory;
  baseline: Memory;
}

/**
 * One agent, next to a baseline started with it, both from a cold page cache. At rest means
 * after the work an idle guest sees: an address added and removed (netlink, schema, publisher,
 * xenstore) and memory timer ticks that write (--memory-interval 5, MemAvailable moved), all
 * after the agent's start-up settle; so the pages that work needs are counted.
 */
async function memoryRun(rig: Rig, scope: Scope, transport: "socket" | "device"): Promise<MemoryRun> {
  const { xs, ns, root } = rig;
  const b = scope.baseline({ gcTimer: false, cold: true });
  const { agent, publishedAt } = await startAgent(rig, scope, { gcTimer: false, transport, cold: true, memoryInterval: MEMORY_INTERVAL_S });
  const until = async (s: number) => {
    const left = s * 1000 - ms(monotonicNs() - publishedAt);
    if (left > 0) await Promise.race([Bun.sleep(left), agent.died, b.died]);
  };
  await until(3);
  const startup = agent.memory();
  await until(STARTUP_SETTLE_S + 1);
  const key = `${xs.base}/attr/vif/0/ipv4/`;
  for (const op of ["add", "del"]) {
    const seen = xs.next((e) => e.path.startsWith(key), 5000, `the watch event for addr ${op}`);
    ns.batch([`addr ${op} 10.98.0.1/32 dev eth0`]);
    await Promise.race([seen, agent.died]);
  }
  root.setMemAvailable(root.memAvailable() - 4096);
  await until(STARTUP_SETTLE_S + 1 + 2 * MEMORY_INTERVAL_S + 1); // two ticks, the first one writes
  const m = { startup, rest: agent.memory(), baseline: b.memory() };
  await agent.stop();
  await b.stop();
  return m;
}

export default async function memory({ cfg, rig, scope }: Context): Promise<Outcome> {
  const { rows, row } = rowsOf("memory");
  const memoryRuns: { socket: MemoryRun[]; device: MemoryRun[] } = { socket: [], device: [] };
  const device = ptyRelayUnavailable();
  for (let i = 0; i < cfg.memoryRuns; i++) {
    memoryRuns.socket.push(await memoryRun(rig, scope, "socket"));
    rig.root.resetMeminfo();
    if (!device) memoryRuns.device.push(await memoryRun(rig, scope, "device"));
    rig.root.resetMeminfo();
  }
  const n = cfg.memoryRuns;
  const rowsFor = (list: MemoryRun[], how: string) => {
    const med = (f: (r: MemoryRun) => number) => median(list.map(f));
    const bR = med((r) => r.baseline.rssKiB);
    const bA = med((r) => r.baseline.rssAnonKiB);
    const aR = med((r) => r.rest.rssKiB);
    const aA = med((r) => r.rest.rssAnonKiB);
    row({
      metric: `RSS at rest (start-up over, an address added and removed, memory ticks), ${how}, median of ${n}`,
      value: `${mib(aR)} MiB`, baseline: `${mib(bR)} MiB`, ratio: `${round(aR / bR, 2)}×`, ...judge(TARGETS.memoryRatio, aR / bR),
    });
    row({
      metric: "  anonymous RSS (RssAnon) at rest", value: `${mib(aA)} MiB`, baseline: `${mib(bA)} MiB`,
      ratio: `+${mib(aA - bA)} MiB`, ...judge(TARGETS.memoryAnonKiB, aA),
    });
    row({
      metric: `  RSS 3 s after the first publish, before the agent gives back its start-up pages (anonymous)`,
      value: `${mib(med((r) => r.startup.rssKiB))} MiB (${mib(med((r) => r.startup.rssAnonKiB))} MiB)`, baseline: `${mib(bR)} MiB`,
      ratio: `${round(med((r) => r.startup.rssKiB) / bR, 2)}×`,
    });
  };
  rowsFor(memoryRuns.socket, "xenstore socket (XENSTORED_PATH = bridge)");
  if (device) row({ metric: "RSS at rest, xenbus device transport", value: `skipped: ${device}` });
  else rowsFor(memoryRuns.device, "xenbus device + watcher thread, as in a domU (pty relay)");
  return { rows, result: memoryRuns };
}

