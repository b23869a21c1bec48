// The dom0 side of fsfreeze (src/requests/fsfreeze/protocol.ts), written the way any dom0 tool
// should, like the read-only queries (src/host/query.ts):
//
//   1. the feature must be advertised (control/feature-fsfreeze, or data/feature-fsfreeze on xl):
//      otherwise fail at once, the agent is not there or [requests] fsfreeze is off;
//   2. watch data/fsfreeze/reply, then create the request node empty, make it dom0-owned
//      (n0,r<domid>: under XAPI the guest owns control/ and would own the node), write the request;
//   3. the answer is the reply carrying the request's id; the request node is removed afterwards
//      (and on a timeout), so no agent acts on it later.
import { FEATURE_KEY, FEATURE_KEY_FALLBACK, formatRequest, parseReply, REPLY_KEY, REQUEST_KEY, STATE_KEY, type FsfreezeReply, type FsfreezeRequest } from "../requests/fsfreeze/protocol.ts";
import { readIfPresent } from "../xenstore/errors.ts";
import { advertised, assertDomain, HostRequestError, newRequestId, waitFor, type HostClient } from "./domain.ts";

/** Fails fast unless the guest's agent advertises fsfreeze. */
export async function checkServed(client: HostClient, domid: number): Promise<void> {
  await assertDomain(client, domid);
  if (await advertised(client, domid, FEATURE_KEY, FEATURE_KEY_FALLBACK)) return;
  throw new HostRequestError(`the agent in domain ${domid} does not serve fsfreeze (no ${FEATURE_KEY} nor ${FEATURE_KEY_FALLBACK}): not running, or [requests] fsfreeze = false in its configuration`);
}

/** Sends one request and resolves with the guest's reply to it. */
export async function sendFsfreeze(client: HostClient, domid: number, request: Omit<FsfreezeRequest, "id">, waitMs: number): Promise<FsfreezeReply> {
  await checkServed(client, domid);
  const home = `/local/domain/${domid}`;
  const full: FsfreezeRequest = { id: newRequestId(), ...request };
  const requestPath = `${home}/${REQUEST_KEY}`;
  let sent = false;
  try {
    const reply = await waitFor(client, `${home}/${REPLY_KEY}`, async () => {
      if (!sent) {
        // The watch is in place (this is its first event): now the request can go out.
        sent = true;
        await client.write(requestPath, "");
        await client.setPerms(requestPath, ["n0", `r${domid}`]);
        await client.write(requestPath, formatRequest(full));
        return undefined;
      }
      const r = parseReply((await readIfPresent(client, `${home}/${REPLY_KEY}`)) ?? "");
      return r?.id === full.id ? r : undefined;
    }, waitMs);
    if (!reply) {
      const state = (await readIfPresent(client, `${home}/${STATE_KEY}`)) ?? "unknown";
      throw new HostRequestError(`no answer to ${request.op} from the agent in domain ${domid} within ${waitMs / 1000} s (its fsfreeze state: ${state})`);
    }
    return reply;
  } finally {
    await client.rm(requestPath).catch(() => {});
  }
}
