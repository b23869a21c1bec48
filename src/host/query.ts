// dom0 side of the read-only queries (src/requests/query.ts): write a request the way any dom0
// tool should and wait for the reply that carries its id.
//
//   1. the agent must advertise control/feature-<name> (data/feature-<name> under xl);
//   2. watch data/<name>/reply; create control/<name>/request empty, make it n0,r<domid> (under
//      XAPI the guest owns control/ and would own the node), then write {"id":…};
//   3. the reply with that id is the answer; the request node is removed afterwards, and on a
//      timeout, so no agent answers it later.
import { parseQueryReply, queryPaths, type QueryReply } from "../requests/query.ts";
import { readIfPresent } from "../xenstore/errors.ts";
import { advertised, HostRequestError, newRequestId, waitFor, type HostClient } from "./domain.ts";

export interface QueryResult {
  reply: QueryReply;
  /** From writing the request to reading the reply. */
  roundTripMs: number;
}

export async function sendQuery(client: HostClient, domid: number, name: string, timeoutMs: number): Promise<QueryResult> {
  const paths = queryPaths(name);
  const home = `/local/domain/${domid}`;
  if (!(await advertised(client, domid, paths.feature, paths.featureFallback))) {
    throw new HostRequestError(`the agent in domain ${domid} does not serve ${name} (no ${paths.feature} nor ${paths.featureFallback}): not running, or [requests] ${name} = false`);
  }
  const id = newRequestId();
  const requestPath = `${home}/${paths.request}`;
  let started = 0;
  try {
    const reply = await waitFor(client, `${home}/${paths.reply}`, async () => {
      if (started === 0) {
        // The watch is in place (this is its first event): now the request can go out.
        await client.write(requestPath, "");
        await client.setPerms(requestPath, ["n0", `r${domid}`]);
        started = performance.now();
        await client.write(requestPath, JSON.stringify({ id }));
        return undefined;
      }
      const r = parseQueryReply((await readIfPresent(client, `${home}/${paths.reply}`)) ?? "");
      return r?.id === id ? r : undefined;
    }, timeoutMs);
    if (!reply) throw new HostRequestError(`no ${name} answer from the agent in domain ${domid} within ${timeoutMs / 1000} s`);
    return { reply, roundTripMs: performance.now() - started };
  } finally {
    await client.rm(requestPath).catch(() => {});
  }
}
