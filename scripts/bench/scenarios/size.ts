// size: binary sizes, the agent next to the idle Bun program built the same way (every release
// target with --all-targets).
import { join } from "node:path";
import { fileSize, REPO, round } from "../lib.ts";
import { mib, rowsOf, type Config, type Outcome } from "../scenario.ts";

export default function size(cfg: Config, agentBin: string, baselineBin: string): Outcome {
  const { rows, row } = rowsOf("size");
  const a = fileSize(agentBin) ?? NaN;
  const b = fileSize(baselineBin) ?? NaN;
  const sizes: Record<string, number> = { "xen-guest-agent (host)": a, "idle baseline (host)": b };
  row({ metric: "binary, host (linux-x64)", value: `${mib(a / 1024)} MiB`, baseline: `${mib(b / 1024)} MiB`, ratio: `+${round((a - b) / 1024, 0)} KiB` });
  if (cfg.allTargets) {
    for (const t of ["linux-x64", "linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"]) {
      const s = fileSize(join(REPO, "dist", `xen-guest-agent-${t}`));
      if (s === undefined) continue;
      sizes[t] = s;
      row({ metric: `binary, ${t}`, value: `${mib(s / 1024)} MiB` });
    }
  }
  return { rows, result: sizes };
}

