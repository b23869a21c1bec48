// The host-request API: what a request type gives the channel (src/requests/channel.ts). A new
// request type is one RequestType object added to the registry (src/requests/registry.ts) and one
// row in the policy table (src/config/request-policy.ts); the channel does the rest: watching, whole
// reads, the owner check, the policy, logging once, idempotence, advertising and withdrawing.
//
//   name        `static-ip`: the policy key, the log tag, what `host info` lists
//   feature     `control/feature-static-ip-setting`: written once the watch is in place, removed
//               on a clean stop; `featureFallback` (data/feature-…) where control/ is read-only
//               to the guest (plain xl)
//   watch       paths under the guest's home; any event below one re-reads `pending`
//   writers     who may have written a request node: "dom0", or "dom0-or-guest" where the
//               toolstack's layout leaves the node guest-owned (XAPI's xenserver/ tree)
//   pending     reads every request present, inside a transaction (a request is seen whole)
//   handle      carries one request out; plain function of the request and the handler's facts
//   answer      writes the outcome (one transaction), and removes what marks the request pending
//
// Paths are relative to the guest's home; the channel maps them for a privileged test link.
import type { XenstoreOps } from "../xenstore/client.ts";

/** The outcome of one request, as the channel logs it and the type writes it back. */
export interface Outcome {
  ok: boolean;
  /** Empty on success; otherwise names the problem (`address 10.0.0.300/24: not an IPv4 address`). */
  message: string;
  /** Why it failed, for types with numeric error codes (static-ip's `error-code`). */
  reason?: FailureReason;
  /** Extra fields for the answer (ping: the agent's version). */
  data?: Record<string, unknown>;
}

/** Why a request was not carried out. Each type maps these to its own codes. */
export type FailureReason =
  | "malformed" // the request does not parse or validate
  | "denied" // the policy says no
  | "forged" // the node was not written by an allowed writer
  | "not-found" // what the request names does not exist (an unknown MAC)
  | "refused" // the system refused (a kernel error)
  | "internal"; // a bug or an unexpected error

/** One request found under the watched paths. */
export interface PendingRequest<R> {
  /** Stable identity of the request slot (`xenserver/device/vif/0/static-ip-setting`). */
  slot: string;
  /**
   * The request's content: the same slot with the same signature is carried out once, however
   * many watch events or republishes see it (idempotence).
   */
  signature: string;
  /** The node whose owner is checked (GET_PERMS). */
  node: string;
  /** One line for the log (`vif 0 ipv4 static 10.0.0.2/24 via 10.0.0.1`). */
  summary: string;
  parsed: { ok: true; request: R } | { ok: false; error: string };
}

export interface RequestType<R = unknown> {
  readonly name: string;
  readonly feature: string;
  readonly featureFallback?: string;
  readonly watch: readonly string[];
  readonly writers: "dom0" | "dom0-or-guest";
  pending(tx: XenstoreOps): Promise<PendingRequest<R>[]>;
  handle(request: R): Promise<Outcome>;
  answer(tx: XenstoreOps, request: PendingRequest<R>, outcome: Outcome): Promise<void>;
}

/** What the channel needs of a xenstore client (XenstoreClient has it). */
export interface RequestClient extends XenstoreOps {
  getPerms(path: string): Promise<string[]>;
  watch(path: string, onEvent: (eventPath: string) => void): Promise<{ unwatch(): Promise<void> }>;
  transaction<T>(body: (tx: XenstoreOps) => Promise<T>): Promise<T>;
}
