// dom0 helpers shared by the `host` commands: finding a guest by id or name, reading what its agent
// advertises, waiting on a key with a deadline.
import type { XenstoreClient } from "../xenstore/client.ts";
import { readIfPresent } from "../xenstore/errors.ts";

export type HostClient = Pick<XenstoreClient, "read" | "write" | "rm" | "watch" | "setPerms" | "directory" | "transaction" | "mkdir">;

/** The guest is missing, its agent is not serving, or it did not answer in time: exit 1. */
export class HostRequestError extends Error {
  override name = "HostRequestError";
}

/** A domain id, or the id of the domain with this name (`/local/domain/<id>/name`). */
export async function resolveDomain(client: HostClient, idOrName: string): Promise<number> {
  if (/^\d{1,5}$/.test(idOrName)) {
    const id = Number(idOrName);
    await assertDomain(client, id);
    return id;
  }
  const ids = await client.directory("/local/domain").catch(() => [] as string[]);
  for (const id of ids) if ((await readIfPresent(client, `/local/domain/${id}/name`)) === idOrName) return Number(id);
  throw new HostRequestError(`no domain named '${idOrName}'`);
}

/** Throws HostRequestError unless domain `domid` exists (its `domid` or `name` node is there). */
export async function assertDomain(client: HostClient, domid: number): Promise<void> {
  const home = `/local/domain/${domid}`;
  if ((await readIfPresent(client, `${home}/domid`)) === undefined && (await readIfPresent(client, `${home}/name`)) === undefined) {
    throw new HostRequestError(`domain ${domid} does not exist (no ${home})`);
  }
}

/** Where the guest advertises `feature` (control/…, or the data/ fallback under xl), or undefined. */
export async function advertised(client: HostClient, domid: number, feature: string, fallback?: string): Promise<string | undefined> {
  for (const key of [feature, ...(fallback ? [fallback] : [])]) {
    if ((await readIfPresent(client, `/local/domain/${domid}/${key}`)) === "1") return key;
  }
  return undefined;
}

/**
 * Watches `path` and resolves with the first value `check` accepts (undefined: keep waiting), or
 * undefined after `timeoutMs`; a check that throws rejects. The check runs once right away (the
 * watch's first event), so it may also start what is waited for.
 */
export async function waitFor<T>(client: HostClient, path: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  let settle!: (v: T | undefined) => void;
  let fail!: (e: Error) => void;
  const done = new Promise<T | undefined>((resolve, reject) => ((settle = resolve), (fail = reject)));
  let checking = Promise.resolve();
  const run = () => {
    checking = checking.then(async () => {
      const v = await check();
      if (v !== undefined) settle(v);
    }).catch(fail);
  };
  const watch = await client.watch(path, run);
  const timer = setTimeout(() => settle(undefined), timeoutMs);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
    await watch.unwatch().catch(() => {});
  }
}

let counter = 0;
/** A request id unique enough for one dom0 (pid, time, counter). */
export function newRequestId(): string {
  return `${process.pid.toString(36)}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}
