// `xen-guest-agent [run]`: the daemon. The pipeline is src/pipeline/fact-sources.ts; its lifecycle (connecting,
// reconnecting, migration triggers, reload, systemd) is src/lifecycle/supervisor.ts. This file
// only wires them to the process: configuration, logger, signals, NOTIFY_SOCKET.
//
//   SIGTERM, SIGINT   thaw what fsfreeze froze, finish the batch in flight (at most 1.5 s), exit 0
//   SIGHUP            read the configuration file again and republish everything; a bad file is
//                     logged and the running configuration stays
import type { CommandDef } from "citty";
import type { AgentConfig } from "../config/options.ts";
import type { Logger } from "../log/logger.ts";
import { CONFIG_ARG, loadConfig } from "../config/file.ts";
import { FatalError } from "../errors.ts";
import { createLogger } from "../log/sinks.ts";
import { defaultConnector } from "../lifecycle/links.ts";
import { ReloadableLogger } from "../log/reloadable.ts";
import { LogHold } from "../log/hold.ts";
import { HostRoot } from "../collectors/host-root.ts";
import { FsfreezeAgent, thawLeftovers } from "../requests/fsfreeze/agent.ts";
import { Supervisor } from "../lifecycle/supervisor.ts";
import { defaultRequestsHook } from "../requests/hook.ts";
import { openNotifier, watchdogUsec, type Notifier } from "../../native/index.ts";
import { pageOutExecutable } from "../../native/index.ts";
import { fdWatchBackend } from "../../native/index.ts";
import { watchClockJumps } from "../../native/index.ts";
import { AGENT_ARGS, parseStrict } from "./args.ts";

export const runDef = ({
  meta: { name: "run", description: "Run the agent: publish the guest's facts and keep them up to date (default command)" },
  args: { ...CONFIG_ARG, ...AGENT_ARGS },
}) satisfies CommandDef;

/** Every logger of the process writes through it: fsfreeze holds lines while filesystems are frozen. */
const logHold = new LogHold();
const makeLogger = (config: AgentConfig) => createLogger({ level: config.loglevel, stderr: config.stderr, hold: logHold }).logger;

/**
 * Once start-up (or a full republish after a resume, migration or reload, or a large publish such
 * as an address storm's) is over, the executable's pages that only that work touched go back to
 * the kernel (native/executable-pages.ts): at rest the agent holds about 60 % of the RSS it had
 * right after its first publish (docs/performance.md). No forced garbage collection here: it saved
 * half a megabyte at rest, but JSC then kept growing its heap for minutes under address churn.
 */
function settle(log: Logger): void {
  const before = process.memoryUsage.rss();
  const r = pageOutExecutable();
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  if (r.failure) log.debug(`executable pages not given back (${r.failure}); RSS ${mib(before)} MiB`);
  else log.debug(`settled: RSS ${mib(before)} → ${mib(process.memoryUsage.rss())} MiB`);
}

export async function runMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, runDef.args as never);
  const env = process.env;
  const loaded = loadConfig(values, env); // UsageError: exit 2 naming the key and line
  // Before the first log line: the journal may be on a filesystem a crashed run left frozen.
  const leftovers = thawLeftovers(loaded.config, new HostRoot(loaded.config.root));
  const log = new ReloadableLogger(makeLogger(loaded.config));
  for (const line of leftovers) log.warn(line);
  // Built whatever the policy says: with [requests] fsfreeze off its requests are answered with an
  // error by the channel, and nothing is ever frozen.
  const fsfreeze = new FsfreezeAgent({ config: loaded.config, root: new HostRoot(loaded.config.root), log, logHold });

  let notifier: Notifier | undefined;
  try {
    notifier = openNotifier(env);
  } catch (e) {
    log.warn(`systemd notification socket unusable (${(e as Error).message}); readiness will not be reported`);
  }

  const supervisor = new Supervisor({
    loaded,
    reload: () => loadConfig(values, env),
    log,
    makeLogger,
    connect: defaultConnector(env),
    notifier,
    watchdogUsec: watchdogUsec(env),
    clockJumps: watchClockJumps,
    afterHeavyWork: () => settle(log),
    requests: defaultRequestsHook(log, {
      types: (client, base) => [fsfreeze.requestType(client, base)],
      onLost: () => fsfreeze.lost(),
      onPolicy: (policy) => void fsfreeze.policyChanged(policy),
    }),
  });

  // Installed before anything starts: a signal during start-up is handled too.
  let stopWith: (signal: string) => void = () => {};
  const stopSignal = new Promise<string>((resolve) => (stopWith = resolve));
  process.on("SIGTERM", () => stopWith("SIGTERM"));
  process.on("SIGINT", () => stopWith("SIGINT"));
  process.on("SIGHUP", () => {
    log.info("SIGHUP: reloading the configuration");
    void supervisor.reload();
  });

  try {
    await Promise.race([supervisor.start(), stopSignal]);
    const watchers = fdWatchBackend();
    if (watchers.backend === "worker") log.info(`waiting on the xenbus device and timers in a Worker (about 2 MB more memory): ${watchers.why}`);
  } catch (e) {
    await fsfreeze.stop("stop");
    await supervisor.stop();
    throw e instanceof FatalError ? e : new FatalError((e as Error).message);
  }
  const signal = await stopSignal;
  // Thawed first: nothing below may wait on a frozen filesystem (the log line included).
  await fsfreeze.stop(signal === "SIGINT" ? "SIGINT" : "SIGTERM");
  log.info(`${signal}: stopping`);
  await supervisor.stop();
  return 0;
}
