// The dom0 side of fsfreeze (src/requests/fsfreeze/protocol.ts): write a request the way any dom0
// tool should, wait for the guest's reply to it, never forever.
//
//   1. the feature must be advertised (control/feature-fsfreeze, or data/feature-fsfreeze on xl):
//      otherwise fail at once, the agent is not there or not serving it;
//   2. watch data/fsfreeze/reply, then create the request node empty, make it dom0-owned
//      (n0,r<domid>: under XAPI the guest owns control/ and would own the node), write the request;
//   3. the answer is the reply carrying the request's id; the request node is removed afterwards
//      (and on a timeout), so no agent acts on it later.
import type { XenstoreClient } from "../xenstore/client.ts";
import { isXenstoreCode } from "../xenstore/errors.ts";
import { FEATURE_KEY, FEATURE_KEY_FALLBACK, formatRequest, parseReply, REPLY_KEY, REQUEST_KEY, STATE_KEY, type FsfreezeReply, type FsfreezeRequest } from "../requests/fsfreeze/protocol.ts";

export type HostClient = Pick<XenstoreClient, "read" | "write" | "rm" | "watch" | "setPerms" | "directory">;

/** The guest does not serve fsfreeze, or did not answer. */
export class FsfreezeUnavailable extends Error {
  override name = "FsfreezeUnavailable";
}

let counter = 0;
export function newRequestId(): string {
  return `${process.pid.toString(36)}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

async function readOr(client: HostClient, path: string): Promise<string | undefined> {
  try {
    return await client.read(path);
  } catch (e) {
    if (isXenstoreCode(e, "ENOENT")) return undefined;
    throw e;
  }
}

/** A domain id, or the id of the domain with this name (`/local/domain/<id>/name`). */
export async function resolveDomain(client: HostClient, idOrName: string): Promise<number> {
  if (/^\d{1,5}$/.test(idOrName)) return Number(idOrName);
  for (const id of await client.directory("/local/domain")) {
    if ((await readOr(client, `/local/domain/${id}/name`)) === idOrName) return Number(id);
  }
  throw new FsfreezeUnavailable(`no domain named '${idOrName}'`);
}

/** Fails fast unless the guest's agent advertises fsfreeze. */
export async function checkServed(client: HostClient, domid: number): Promise<void> {
  const home = `/local/domain/${domid}`;
  if ((await readOr(client, `${home}/name`)) === undefined && (await readOr(client, `${home}/domid`)) === undefined) {
    throw new FsfreezeUnavailable(`domain ${domid} does not exist`);
  }
  for (const key of [FEATURE_KEY, FEATURE_KEY_FALLBACK]) if ((await readOr(client, `${home}/${key}`)) === "1") return;
  throw new FsfreezeUnavailable(`the agent in domain ${domid} does not serve fsfreeze (no ${FEATURE_KEY}): is xen-guest-agent running there with fsfreeze = true?`);
}

/** Sends one request and resolves with the guest's reply to it. */
export async function sendFsfreeze(client: HostClient, domid: number, request: Omit<FsfreezeRequest, "id">, waitMs: number): Promise<FsfreezeReply> {
  await checkServed(client, domid);
  const home = `/local/domain/${domid}`;
  const full: FsfreezeRequest = { id: newRequestId(), ...request };
  const requestPath = `${home}/${REQUEST_KEY}`;
  let settle!: (r: FsfreezeReply) => void;
  const answered = new Promise<FsfreezeReply>((resolve) => (settle = resolve));
  const check = async () => {
    const reply = parseReply((await readOr(client, `${home}/${REPLY_KEY}`)) ?? "");
    if (reply?.id === full.id) settle(reply);
  };
  const watch = await client.watch(`${home}/${REPLY_KEY}`, () => void check().catch(() => {}));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await client.write(requestPath, "");
    await client.setPerms(requestPath, ["n0", `r${domid}`]);
    await client.write(requestPath, formatRequest(full));
    const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
    const reply = await Promise.race([answered, timedOut]);
    if (!reply) {
      const state = (await readOr(client, `${home}/${STATE_KEY}`)) ?? "unknown";
      throw new FsfreezeUnavailable(`no answer to ${request.op} from the agent in domain ${domid} within ${waitMs / 1000} s (its fsfreeze state: ${state})`);
    }
    return reply;
  } finally {
    clearTimeout(timer);
    await watch.unwatch().catch(() => {});
    await client.rm(requestPath).catch(() => {});
  }
}
