// Read-only queries from dom0 (`ping`, `info`): one shape for both, chosen to work under XAPI and
// under plain xl permissions alike.
//
//   control/feature-<name> = 1            guest: served (data/feature-<name> where control/ is
//                                          read-only to the guest, as under plain xl)
//   control/<name>/request = {"id":"…"}    dom0: created empty, made dom0-owned and guest-readable
//                                          (n0,r<domid>), then written
//   data/<name>/reply      = {"id":"…","ok":true,"error":"",…}
//                                          guest: the answer, carrying the request's id
//
// Why there: under xl control/ is dom0's (n0,r<domid>), so a request there cannot come from the
// guest; under XAPI control/ is the guest's, so dom0 sets the node's permissions itself and the
// channel checks the owner (GET_PERMS): a request a guest process wrote is answered with an error.
// Answers go to data/, the one tree the guest can write under both. The guest never removes the
// request (under xl it cannot): dom0 removes it after reading the reply, and a request whose id is
// already in the reply is not answered twice (restarts included).
//
// Forgery: a root process in the guest can write data/<name>/reply itself, so a reply proves that
// something in the guest with xenbus access answered, not that it was this agent. That is all a
// liveness probe can promise; nothing here changes the guest.
import { readIfPresent } from "../xenstore/errors.ts";
import type { Outcome, PendingRequest, RequestType } from "./types.ts";

export interface QueryPaths {
  feature: string;
  featureFallback: string;
  request: string;
  reply: string;
}

export function queryPaths(name: string): QueryPaths {
  return { feature: `control/feature-${name}`, featureFallback: `data/feature-${name}`, request: `control/${name}/request`, reply: `data/${name}/reply` };
}

export interface QueryReply {
  id: string;
  ok: boolean;
  error: string;
  [field: string]: unknown;
}

const ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The id of a request's text, or why it is not a request. Empty text is not a request yet. */
export function parseQueryRequest(text: string): { ok: true; id: string } | { ok: false; id: string; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: "", error: "request is not JSON ({\"id\":\"…\"})" };
  }
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || !ID.test(id)) return { ok: false, id: typeof id === "string" ? id.slice(0, 64) : "", error: "request id must be 1-64 characters of A-Za-z0-9._:-" };
  return { ok: true, id };
}

export function parseQueryReply(text: string): QueryReply | undefined {
  try {
    const v = JSON.parse(text) as QueryReply;
    return typeof v?.id === "string" && typeof v.ok === "boolean" ? v : undefined;
  } catch {
    return undefined;
  }
}


/** A query type: `answer` computes the reply's fields (the version, the served types). */
export function queryType(name: string, answer: () => Record<string, unknown>): RequestType<{ id: string }> {
  const paths = queryPaths(name);
  return {
    name,
    feature: paths.feature,
    featureFallback: paths.featureFallback,
    watch: [paths.request],
    writers: "dom0",
    async pending(tx): Promise<PendingRequest<{ id: string }>[]> {
      const text = await readIfPresent(tx, paths.request);
      if (text === undefined || text === "") return []; // dom0 creates it empty, then sets its permissions
      const parsed = parseQueryRequest(text);
      const previous = parseQueryReply((await readIfPresent(tx, paths.reply)) ?? "");
      if (previous && previous.id === parsed.id && parsed.id !== "") return []; // answered already
      return [{
        slot: paths.request,
        signature: text,
        node: paths.request,
        summary: `request ${parsed.id || "(no id)"}`,
        parsed: parsed.ok ? { ok: true, request: { id: parsed.id } } : { ok: false, error: parsed.error },
      }];
    },
    async handle(): Promise<Outcome> {
      return { ok: true, message: "", data: answer() };
    },
    async answer(tx, request, outcome): Promise<void> {
      const id = request.parsed.ok ? request.parsed.request.id : parseQueryRequest(request.signature).id;
      const reply: QueryReply = { id, ok: outcome.ok, error: outcome.message, ...(outcome.ok ? outcome.data : {}) };
      await tx.write(paths.reply, JSON.stringify(reply));
    },
  };
}
