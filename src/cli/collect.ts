// `xen-guest-agent collect`: gather every fact once, print it, exit.
import type { CommandDef } from "citty";
import { TreeBuilder } from "../schema/index.ts";
import { collectStaticFacts, timedCollectors } from "../collectors/static.ts";
import { CONFIG_ARG, loadConfig } from "../config/file.ts";
import { OPTIONS } from "../config/options.ts";
import type { Facts } from "../facts/facts.ts";
import { HostRoot } from "../collectors/host-root.ts";
import { createLogger } from "../log/sinks.ts";
import { collectNetworkOnce } from "../collectors/network/collector.ts";
import { collectVolumesOnce } from "../collectors/volumes/collector.ts";
import { argsFor, parseStrict } from "./args.ts";

const COLLECT_OPTIONS = OPTIONS.filter((o) => ["root", "schema", "extended", "include", "exclude", "link-local", "loglevel", "volumes"].includes(o.flag));

export const collectDef = ({
  meta: { name: "collect", description: "Gather every fact once, print it with the keys it would publish, and exit" },
  args: {
    json: { type: "boolean", description: "Print the facts and keys as JSON" },
    ...CONFIG_ARG,
    ...argsFor(COLLECT_OPTIONS),
  },
}) satisfies CommandDef;

export async function collectMain(rawArgs: string[]): Promise<number> {
  const { values } = parseStrict(rawArgs, collectDef.args as never);
  // The same configuration as `run` (file, environment, command line), so the keys shown are the
  // keys the daemon would publish.
  const { config } = loadConfig(values, process.env);
  const { logger: log } = createLogger({ level: config.loglevel === "info" ? "warn" : config.loglevel, stderr: true });
  const root = new HostRoot(config.root);
  const facts: Facts = collectStaticFacts(root, timedCollectors(root, log), log);
  try {
    facts.network = await collectNetworkOnce(root, log.withTag("netlink"));
  } catch (e) {
    log.warn(`network facts unavailable: ${(e as Error).message}`);
  }
  if (config.volumes) facts.volumes = collectVolumesOnce(root, log.withTag("volumes"));
  const tree = new TreeBuilder(config).build(facts);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ facts, keys: Object.fromEntries(tree) }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(renderText(facts, tree, config.schema));
  return 0;
}

function renderText(facts: Facts, tree: Map<string, string>, schema: string): string {
  const lines: string[] = [];
  lines.push(`agent     xen-guest-agent ${facts.agent.version} (build ${facts.agent.build})`);
  if (facts.os) lines.push(`os        ${facts.os.prettyName} [id ${facts.os.id}, version ${facts.os.versionId || "unknown"}], kernel ${facts.os.kernelRelease}`);
  if (facts.memory) lines.push(`memory    ${facts.memory.totalKiB} KiB total, ${facts.memory.freeKiB} KiB available`);
  if (facts.host) lines.push(`host      ${facts.host.hostName}${facts.host.domain ? ` (domain ${facts.host.domain})` : ""}`);
  for (const i of facts.network?.interfaces ?? []) {
    const ts = i.toolstack.kind === "none" ? "" : ` ${i.toolstack.kind} ${i.toolstack.id}`;
    lines.push(`interface ${i.name} #${i.ifindex}${ts} ${i.mac ?? "-"} ${i.operstate}`);
    for (const a of i.addresses) lines.push(`            ${a.address}/${a.prefixLength} ${a.scope}`);
  }
  for (const v of facts.volumes?.volumes ?? []) {
    lines.push(`volume    ${v.path} ${v.filesystem} on ${v.mountPoints.join(", ")}: ${v.sizeBytes} bytes, ${v.freeBytes ?? "?"} free`);
  }
  lines.push("", `keys (${schema} schema):`);
  for (const [k, v] of tree) lines.push(`  ${k} = ${v}`);
  return `${lines.join("\n")}\n`;
}
