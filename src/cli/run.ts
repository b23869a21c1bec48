// `xen-guest-agent [run]`: the daemon.
import { defineCommand } from "citty";
import { resolveConfig, type AgentConfig } from "../config.ts";
import { Daemon } from "../daemon.ts";
import { FatalError } from "../errors.ts";
import { HostRoot } from "../host-root.ts";
import { createLogger } from "../log.ts";
import type { Logger } from "../logger.ts";
import { consoleTarget } from "../publish/console-target.ts";
import type { PublishTarget } from "../publish/publisher.ts";
import { xenstoreTarget } from "../publish/xenstore-target.ts";
import { connectXenstore, findXenstore } from "../xenstore/connect.ts";
import { AGENT_FACTS } from "../version.ts";
import { AGENT_ARGS, parseStrict } from "./args.ts";

export const runDef = defineCommand({
  meta: { name: "run", description: "Run the agent: publish the guest's facts and keep them up to date (default command)" },
  args: AGENT_ARGS,
});

/** Opens where the agent publishes. Throws FatalError (exit 1) with the reason and the way out. */
async function openTarget(config: AgentConfig, root: HostRoot, log: Logger): Promise<{ target: PublishTarget; close(): void }> {
  if (config.publisher === "console") return { target: consoleTarget(), close() {} };
  const location = findXenstore(root, process.env);
  if (!location) {
    const hypervisor = root.readLine("sys/hypervisor/type");
    const why = hypervisor === "xen"
      ? "this is a Xen guest but neither /dev/xen/xenbus nor /proc/xen/xenbus exists (is the xen_gntdev/xenfs support loaded, or /dev/xen mounted into the container?)"
      : `not a Xen guest (${hypervisor ? `sys/hypervisor/type is '${hypervisor}'` : `no ${root.path("sys/hypervisor/type")}`}) and no xenstore device or socket was found`;
    throw new FatalError(`${why}; to see what would be published, use --publisher console`);
  }
  try {
    const client = await connectXenstore(location, { timeoutMs: config.xenstoreTimeout * 1000, log: log.withTag("xenstore") });
    return { target: xenstoreTarget(client), close: () => client.close() };
  } catch (e) {
    throw new FatalError(`cannot open xenstore at ${location.path}: ${(e as Error).message}`);
  }
}

export async function runMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, AGENT_ARGS);
  const { config } = resolveConfig({ cli: values, env: process.env });
  const { logger: log } = createLogger({ level: config.loglevel, stderr: config.stderr });
  const root = new HostRoot(config.root);
  const { target, close } = await openTarget(config, root, log);

  const stopSignal = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
  });
  const daemon = new Daemon({ config, log, root, target });
  const started = performance.now();
  await daemon.start();
  log.info(`xen-guest-agent ${AGENT_FACTS.version} publishing to ${target.name} (${config.schema} schema) after ${Math.round(performance.now() - started)} ms`);

  const signal = await stopSignal;
  log.info(`${signal}: stopping`);
  // Finish the batch in flight, but never hang the shutdown on a dead xenstore.
  await Promise.race([daemon.stop(), Bun.sleep(1500)]);
  close();
  return 0;
}
