// fsfreeze as a request type of the host-request channel (src/requests/channel.ts, types.ts): the
// channel watches control/fsfreeze/request, reads it whole, checks that dom0 owns it and that the
// policy allows fsfreeze ([requests] fsfreeze, off by default), and writes the answer this type
// makes (protocol.ts): data/fsfreeze/reply with the request's id, and data/fsfreeze/state.
//
// A request whose id is already in the reply was answered (by this run or one before it) and is
// not read as pending again: a freeze is never repeated by a restart or a second watch event.
import { readIfPresent } from "../../xenstore/errors.ts";
import type { Outcome, PendingRequest, RequestType } from "../types.ts";
import { FEATURE_KEY, FEATURE_KEY_FALLBACK, formatReply, parseReply, parseRequest, REPLY_KEY, REQUEST_KEY, STATE_KEY, type FsfreezeReply, type FsfreezeRequest } from "./protocol.ts";
import type { FsfreezeService } from "./service.ts";


/** The id a request's text carries, valid or not (for the answer to a refused one). */
function idOf(request: PendingRequest<FsfreezeRequest>): string {
  if (request.parsed.ok) return request.parsed.request.id;
  const parsed = parseRequest(request.signature);
  return parsed.ok ? parsed.request.id : parsed.id;
}

/** The type's name: its `[requests]` key. */
export const FSFREEZE_TYPE = "fsfreeze";

export function fsfreezeType(service: FsfreezeService): RequestType<FsfreezeRequest> {
  return {
    name: FSFREEZE_TYPE,
    feature: FEATURE_KEY,
    featureFallback: FEATURE_KEY_FALLBACK,
    watch: [REQUEST_KEY],
    writers: "dom0",
    async pending(tx): Promise<PendingRequest<FsfreezeRequest>[]> {
      const text = await readIfPresent(tx, REQUEST_KEY);
      if (text === undefined || text === "") return []; // dom0 creates it empty, then sets its permissions
      const parsed = parseRequest(text);
      const id = parsed.ok ? parsed.request.id : parsed.id;
      if (id !== "" && parseReply((await readIfPresent(tx, REPLY_KEY)) ?? "")?.id === id) return [];
      return [{
        slot: REQUEST_KEY,
        signature: text,
        node: REQUEST_KEY,
        summary: parsed.ok ? `${parsed.request.op} ${id}${parsed.request.mounts ? ` ${parsed.request.mounts.join(",")}` : ""}` : `request ${id || "(no id)"}`,
        parsed: parsed.ok ? { ok: true, request: parsed.request } : { ok: false, error: parsed.error },
      }];
    },
    async handle(request): Promise<Outcome> {
      const reply = await service.handle({ type: "request", request });
      if (!reply) return { ok: false, reason: "internal", message: "the agent is stopping" };
      return { ok: reply.ok, message: reply.error, ...(reply.ok ? {} : { reason: "refused" as const }), data: { reply } };
    },
    async answer(tx, request, outcome): Promise<void> {
      const reply = (outcome.data?.reply as FsfreezeReply | undefined) ?? service.refuse(idOf(request), outcome.message);
      await tx.write(REPLY_KEY, formatReply(reply));
      await tx.write(STATE_KEY, reply.state);
    },
  };
}
