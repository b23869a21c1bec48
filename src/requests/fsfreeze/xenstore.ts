// The fsfreeze keys on one xenstore connection (protocol.ts): watch the request, check who wrote
// it, hand it to the service, write its answers, advertise the feature while served.
//
// Who may ask: only a request node owned by dom0 is acted on (GET_PERMS; the owner is the first
// entry, `n0`). Under libxl's permissions the guest cannot write control/ at all; under XAPI it
// can, so the dom0 side makes the node dom0-owned, and a request a guest process wrote is answered
// with an error. What a root process in the guest could do instead, FIFREEZE its own filesystems,
// it can do without the agent: the check keeps a guest process from steering the agent, it does
// not protect the guest from its own root.
import type { Logger } from "../../log/logger.ts";
import { isXenstoreCode } from "../../xenstore/errors.ts";
import type { FsfreezeService } from "./service.ts";
import { FEATURE_KEY, FEATURE_KEY_FALLBACK, formatReply, parseReply, parseRequest, REPLY_KEY, REQUEST_KEY, STATE_KEY, type FreezeStateName, type FsfreezeReply } from "./protocol.ts";

/** What the channel needs of a xenstore client (XenstoreClient has it). */
export interface FsfreezeClient {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
  rm(path: string): Promise<void>;
  getPerms(path: string): Promise<string[]>;
  watch(path: string, onEvent: (eventPath: string) => void): Promise<{ unwatch(): Promise<void> }>;
  onConnectionLost(cb: (err: Error) => void): () => void;
}

export interface FsfreezeChannel {
  /** Writes the state and reply (the service's publish). */
  publish(state: FreezeStateName, reply?: FsfreezeReply): Promise<void>;
  /** Clean stop: withdraws the feature key and the watch. */
  close(): Promise<void>;
}

/** The owner domain of a node from its GET_PERMS answer (`n0`, `r5` → 0). */
export function ownerOf(perms: readonly string[]): number | undefined {
  const m = /^[nrwb](\d+)$/.exec(perms[0] ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Serves fsfreeze on `client` (paths relative to the guest's home, or under `base` on a privileged
 * connection in tests). Resolves once the watch is in place and the feature is advertised.
 */
export async function serveFsfreeze(client: FsfreezeClient, service: FsfreezeService, log: Logger, base = ""): Promise<FsfreezeChannel> {
  const at = (p: string) => (base ? `${base}/${p}` : p);
  let closed = false;
  let advertised: string | undefined;

  // A reply written before a restart says which request was answered last.
  const previous = await client.read(at(REPLY_KEY)).then(parseReply, () => undefined);
  if (previous) service.remember(previous);

  // Two plain writes, not a transaction: the reply carries the state itself (dom0 reads only the
  // reply), and oxenstored slows down a domain whose transactions conflict, which dom0 writing the
  // next request while the guest answers would make them do.
  const publish = async (state: FreezeStateName, reply?: FsfreezeReply): Promise<void> => {
    if (closed) return;
    if (reply) await client.write(at(REPLY_KEY), formatReply(reply));
    await client.write(at(STATE_KEY), state);
  };

  let reading = Promise.resolve();
  const onRequest = (): void => {
    reading = reading.then(readRequest).catch((e: Error) => log.warn(`fsfreeze request not read: ${e.message}`));
  };
  const readRequest = async (): Promise<void> => {
    if (closed) return;
    let text: string;
    let perms: string[];
    try {
      text = await client.read(at(REQUEST_KEY));
      perms = await client.getPerms(at(REQUEST_KEY));
      // Read again: the permissions must belong to the value that is acted on.
      if ((await client.read(at(REQUEST_KEY))) !== text) return onRequest();
    } catch (e) {
      if (isXenstoreCode(e, "ENOENT")) return; // dom0 removed it after reading the reply
      throw e;
    }
    if (text === "") return; // dom0 creates the node empty, sets its permissions, then writes it
    const parsed = parseRequest(text);
    const owner = ownerOf(perms);
    const id = parsed.ok ? parsed.request.id : parsed.id;
    if (owner !== 0) {
      log.warn(`fsfreeze request ${id} ignored: written by domain ${owner ?? "?"}, not dom0`);
      await service.handle({ type: "invalid", id, error: `request node owned by domain ${owner ?? "?"}, not dom0 (it must be n0,r<domid>)` });
      return;
    }
    if (!parsed.ok) {
      log.warn(`fsfreeze request ${id || "(no id)"} refused: ${parsed.error}`);
      await service.handle({ type: "invalid", id, error: parsed.error });
      return;
    }
    await service.handle({ type: "request", request: parsed.request });
  };

  const watch = await client.watch(at(REQUEST_KEY), onRequest);
  const unlost = client.onConnectionLost(() => {
    closed = true;
    void service.handle({ type: "shutdown", cause: "xenstore-lost" });
  });
  await publish(service.stateName());
  try {
    await client.write(at(FEATURE_KEY), "1");
    advertised = FEATURE_KEY;
  } catch (e) {
    if (!isXenstoreCode(e, "EACCES")) throw e;
    // Plain xl: control/ is read-only to the guest but for the nodes libxl made for it.
    await client.write(at(FEATURE_KEY_FALLBACK), "1");
    advertised = FEATURE_KEY_FALLBACK;
  }
  log.debug(`fsfreeze served (advertised at ${advertised})`);

  return {
    publish,
    close: async () => {
      if (closed) return;
      closed = true;
      unlost();
      await watch.unwatch().catch(() => {});
      await reading;
      if (advertised) await client.rm(at(advertised)).catch(() => {});
    },
  };
}
