// The collector under benchmark: started by scripts/bench/netlink.ts inside a network namespace
// (`ip netns exec`), dev mode or compiled. Prints `READY <json>` once, then one line per batch:
// `BATCH <CLOCK_MONOTONIC ns at the callback> <interfaces> <addresses>`.
import { monotonicNs } from "../../native/monotonic.ts";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { NetworkCollector } from "../../src/collectors/network/collector.ts";

const collector = new NetworkCollector({ root: new HostRoot("/"), log: silentLogger });
const first = await collector.start();
const count = (f: typeof first) => f.interfaces.reduce((n, i) => n + i.addresses.length, 0);
collector.onChange((f) => {
  process.stdout.write(`BATCH ${monotonicNs()} ${f.interfaces.length} ${count(f)}\n`);
});
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, interfaces: first.interfaces.length, stats: collector.stats() })}\n`);
process.on("SIGTERM", () => {
  collector.stop();
  process.exit(0);
});
