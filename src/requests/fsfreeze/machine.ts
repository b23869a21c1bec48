// The fsfreeze state machine, pure: what to do with each request or event in each state, and the
// state and reply that follow once the freeze or thaw has been carried out. No clocks (`now` is
// passed in), no I/O; the driver (service.ts) carries out the actions. Tables in
// test/requests/fsfreeze/machine.test.ts go through every transition.
//
//   state    event                      action / reply
//   thawed   freeze                     freeze (→ frozen, or stays thawed with the error)
//   thawed   thaw                       reply ok: thawed already (with the last freeze's figures)
//   thawed   timeout, shutdown          nothing
//   frozen   freeze (another id)        reply error: frozen already by that freeze
//   frozen   thaw                       thaw (cause "request")
//   frozen   timeout                    thaw (cause "timeout"), no reply to write but the state
//   frozen   shutdown (SIGTERM, …)      thaw (that cause)
//   any      status                     reply with the current state
//   any      a request seen before      the same reply again, nothing done (idempotent)
//   any      an invalid request         reply error, nothing done
import type { FreezeStateName, FsfreezeReply, FsfreezeRequest, ThawCause } from "./protocol.ts";

export interface FrozenMount {
  mountPoint: string;
  device: string;
}

export interface MachineState {
  frozen?: {
    freezeId: string;
    mounts: FrozenMount[];
    /** ms (monotonic) when the last filesystem was frozen. */
    since: number;
    timeoutS: number;
    /** Freeze hooks that succeeded: their thaw runs after the thaw. */
    hooks: string[];
  };
  /** How the last freeze ended. */
  last?: { freezeId: string; frozenMs: number; thawedBy: ThawCause };
  /** The last reply written, for requests seen again. */
  lastReply?: FsfreezeReply;
}

export interface Limits {
  /** Configured automatic-thaw limit in seconds; a request may only ask for less. */
  timeoutS: number;
}

export type MachineEvent =
  | { type: "request"; request: FsfreezeRequest }
  | { type: "invalid"; id: string; error: string }
  | { type: "timeout" }
  | { type: "shutdown"; cause: ThawCause };

export type Action =
  | { do: "reply"; reply: FsfreezeReply }
  | { do: "freeze"; request: FsfreezeRequest; timeoutS: number }
  | { do: "thaw"; cause: ThawCause; request?: FsfreezeRequest }
  | { do: "nothing" };

export function stateName(s: MachineState): FreezeStateName {
  return s.frozen ? "frozen" : "thawed";
}

function base(s: MachineState, id: string, op: FsfreezeReply["op"]): FsfreezeReply {
  return {
    id, op, ok: true, error: "", state: stateName(s),
    mounts: s.frozen ? s.frozen.mounts.map((m) => m.mountPoint) : [],
    skipped: [],
    timeout: s.frozen ? s.frozen.timeoutS : null,
    freezeId: s.frozen?.freezeId ?? s.last?.freezeId ?? null,
    frozenMs: s.frozen ? null : (s.last?.frozenMs ?? null),
    thawedBy: s.frozen ? null : (s.last?.thawedBy ?? null),
  };
}

/** The answer to a request that is not carried out (malformed, denied by the policy, forged). */
export function refusal(s: MachineState, id: string, error: string): FsfreezeReply {
  return { ...base(s, id, "invalid"), ok: false, error };
}

export function decide(s: MachineState, e: MachineEvent, limits: Limits): Action {
  switch (e.type) {
    case "invalid":
      if (s.lastReply && e.id !== "" && s.lastReply.id === e.id) return { do: "reply", reply: s.lastReply };
      return { do: "reply", reply: refusal(s, e.id, e.error) };
    case "timeout":
    case "shutdown":
      return s.frozen ? { do: "thaw", cause: e.type === "timeout" ? "timeout" : e.cause } : { do: "nothing" };
    case "request": {
      const r = e.request;
      if (s.lastReply?.id === r.id) return { do: "reply", reply: s.lastReply };
      if (r.op === "status") return { do: "reply", reply: base(s, r.id, "status") };
      if (r.op === "thaw") return s.frozen ? { do: "thaw", cause: "request", request: r } : { do: "reply", reply: base(s, r.id, "thaw") };
      if (s.frozen) {
        return { do: "reply", reply: { ...base(s, r.id, "freeze"), ok: false, error: `frozen already by request ${s.frozen.freezeId}; thaw it first` } };
      }
      return { do: "freeze", request: r, timeoutS: Math.min(r.timeout ?? limits.timeoutS, limits.timeoutS) };
    }
  }
}

export type FreezeOutcome =
  | { ok: true; mounts: FrozenMount[]; skipped: string[]; hooks: string[]; at: number }
  | { ok: false; error: string; skipped: string[] };

/** The state and reply after the freeze procedure for `request` ran. */
export function afterFreeze(s: MachineState, request: FsfreezeRequest, timeoutS: number, out: FreezeOutcome): { state: MachineState; reply: FsfreezeReply } {
  if (!out.ok) {
    const reply = { ...base(s, request.id, "freeze"), ok: false, error: out.error, skipped: out.skipped };
    return { state: { ...s, lastReply: reply }, reply };
  }
  const state: MachineState = { ...s, frozen: { freezeId: request.id, mounts: out.mounts, since: out.at, timeoutS, hooks: out.hooks } };
  const reply = { ...base(state, request.id, "freeze"), skipped: out.skipped };
  state.lastReply = reply;
  return { state, reply };
}

/**
 * The state after the thaw procedure (`failures`: mounts that would not thaw, with why), and the
 * reply when a request asked for it. A thaw on timeout or shutdown answers no request: the state
 * key says it, and the next thaw request is told what ended the freeze.
 */
export function afterThaw(s: MachineState, cause: ThawCause, request: FsfreezeRequest | undefined, failures: string[], now: number): { state: MachineState; reply?: FsfreezeReply } {
  if (!s.frozen) return { state: s };
  const last = { freezeId: s.frozen.freezeId, frozenMs: Math.max(0, Math.round(now - s.frozen.since)), thawedBy: cause };
  const state: MachineState = { last, ...(s.lastReply ? { lastReply: s.lastReply } : {}) };
  if (!request) return { state };
  const reply = { ...base(state, request.id, "thaw"), ok: failures.length === 0, error: failures.join("; ") };
  state.lastReply = reply;
  return { state, reply };
}
