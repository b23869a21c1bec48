// Reading a domain's tree back from the privileged side, as dom0 tools see it.
import type { XenstoreClient } from "../../src/xenstore/client.ts";

/** Keys the toolstack (xsshim-mkdomain / libxl) creates; not the agent's. */
const TOOLSTACK_KEYS = /^(domid|name|vm|memory|cpu|device|control\/(shutdown|sysrq|feature-(poweroff|reboot|suspend|s3|s4)|platform-feature-.*)|store|console|image|unique-domain-id)(\/|$)/;

/** Every node under `base` as relative path → value, recursively. */
export async function readTree(client: XenstoreClient, base: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? `${base}/${rel}` : base;
    const [value, kids] = await Promise.all([client.read(abs).catch(() => ""), client.directory(abs).catch(() => [])]);
    if (rel) out.set(rel, value);
    await Promise.all(kids.map((k) => walk(rel ? `${rel}/${k}` : k)));
  };
  await walk("");
  return out;
}

/** The agent's part of a domain tree: leaves only (empty directories the toolstack made are dropped). */
export async function readAgentTree(client: XenstoreClient, base: string): Promise<Map<string, string>> {
  const all = await readTree(client, base);
  const out = new Map<string, string>();
  const paths = [...all.keys()];
  for (const [path, value] of all) {
    if (TOOLSTACK_KEYS.test(path)) continue;
    const isDir = paths.some((p) => p.startsWith(`${path}/`));
    if (isDir && value === "") {
      // keep agent-created directory nodes that carry meaning (attr/vif/<id>)
      if (!/^attr\/vif\/\d+$|^xenserver\/attr\/net-sriov-vf\/\d+$/.test(path)) continue;
    }
    if (!isDir && value === "" && /^(data|attr|feature|control|error|drivers|xenserver|xenserver\/attr)$/.test(path)) continue;
    out.set(path, value);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}
