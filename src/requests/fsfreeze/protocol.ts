// The fsfreeze keys: what dom0 writes, what the guest answers. Shared by the agent (the guest side)
// and `xen-guest-agent host fsfreeze` (dom0), so both read and write exactly one format. Paths are
// relative to the guest's home `/local/domain/<domid>`; README "fsfreeze protocol" describes them
// for other dom0 tools.
//
//   control/feature-fsfreeze = 1        guest: served (data/feature-fsfreeze where control/ is
//                                       read-only to the guest, as under plain xl)
//   control/fsfreeze/request  = JSON    dom0: {"id","op","timeout"?,"mounts"?}; dom0-owned (n0,r<domid>)
//   data/fsfreeze/state       = text    guest: thawed | freezing | frozen
//   data/fsfreeze/reply       = JSON    guest: the answer to the last request, by id
//
// Requests go where only dom0 can write under libxl's permissions (control/ is n0,r<domid>); under
// XAPI control/ is the guest's, so the dom0 side sets the node's permissions to n0,r<domid> in the
// same transaction, and the agent acts only on a request whose owner is dom0. Answers go to data/,
// which the guest can write under both. The guest never deletes the request (under xl it cannot):
// the reply carries the request's id, so acknowledging is writing that id and a request seen
// again (a second watch event, an agent restart) is answered again, never acted on twice.

export const FEATURE_KEY = "control/feature-fsfreeze";
export const FEATURE_KEY_FALLBACK = "data/feature-fsfreeze";
export const REQUEST_KEY = "control/fsfreeze/request";
export const STATE_KEY = "data/fsfreeze/state";
export const REPLY_KEY = "data/fsfreeze/reply";

export type FsfreezeOp = "freeze" | "thaw" | "status";
export type FreezeStateName = "thawed" | "freezing" | "frozen";
/** What ended the last freeze. */
export type ThawCause = "request" | "timeout" | "SIGTERM" | "SIGINT" | "xenstore-lost" | "stop" | "restart" | "disabled";

export interface FsfreezeRequest {
  id: string;
  op: FsfreezeOp;
  /** Seconds until the automatic thaw; only lowers the configured limit. */
  timeout?: number;
  /** Mount points to freeze; absent: every local block filesystem, the root last. */
  mounts?: string[];
}

export interface FsfreezeReply {
  id: string;
  op: FsfreezeOp | "invalid";
  ok: boolean;
  /** Why not, naming the mount point and the kernel's answer (`/data: FIFREEZE: EOPNOTSUPP`). */
  error: string;
  state: FreezeStateName;
  /** Mount points frozen by the agent now, in the order they were frozen. */
  mounts: string[];
  /** Freeze: mount points left alone, with why (`/boot/efi: not supported by vfat`, `/x: frozen already`). */
  skipped: string[];
  /** Freeze: seconds granted before the automatic thaw. */
  timeout: number | null;
  /** Thaw and status after a freeze: the id of the freeze that ended, how long it lasted, what ended it. */
  freezeId: string | null;
  frozenMs: number | null;
  thawedBy: ThawCause | null;
}

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const OPS: readonly FsfreezeOp[] = ["freeze", "thaw", "status"];
/** Enough for every mount point of a guest; the whole request fits one xenstore value (4 KiB). */
export const MAX_MOUNTS = 64;

export type ParsedRequest = { ok: true; request: FsfreezeRequest } | { ok: false; id: string; error: string };

/** Checks a request value. A bad one is answered (with its id when it has one), never acted on. */
export function parseRequest(text: string): ParsedRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, id: "", error: "request is not JSON" };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, id: "", error: "request is not a JSON object" };
  const r = raw as Record<string, unknown>;
  const id = typeof r.id === "string" && ID.test(r.id) ? r.id : undefined;
  const bad = (error: string): ParsedRequest => ({ ok: false, id: id ?? "", error });
  if (id === undefined) return bad("id must be 1-64 characters of A-Z a-z 0-9 . _ : -");
  for (const key of Object.keys(r)) if (!["id", "op", "timeout", "mounts"].includes(key)) return bad(`unknown field '${key}'`);
  if (typeof r.op !== "string" || !OPS.includes(r.op as FsfreezeOp)) return bad(`op must be one of ${OPS.join(", ")}`);
  const request: FsfreezeRequest = { id, op: r.op as FsfreezeOp };
  if (r.timeout !== undefined) {
    if (typeof r.timeout !== "number" || !Number.isInteger(r.timeout) || r.timeout < 1) return bad("timeout must be a whole number of seconds ≥ 1");
    request.timeout = r.timeout;
  }
  if (r.mounts !== undefined) {
    const m = r.mounts;
    if (!Array.isArray(m) || m.length === 0 || m.length > MAX_MOUNTS) return bad(`mounts must be a list of 1-${MAX_MOUNTS} absolute paths`);
    if (!m.every((p) => typeof p === "string" && p.startsWith("/") && !p.includes("\0"))) return bad("mounts must be absolute paths");
    request.mounts = [...new Set(m as string[])];
  }
  if (request.op !== "freeze" && (request.timeout !== undefined || request.mounts !== undefined)) return bad(`${request.op} takes no timeout or mounts`);
  return { ok: true, request };
}

export function formatRequest(request: FsfreezeRequest): string {
  return JSON.stringify(request);
}

export function formatReply(reply: FsfreezeReply): string {
  return JSON.stringify(reply);
}

/** A reply read back by dom0; undefined when the value is not one. */
export function parseReply(text: string): FsfreezeReply | undefined {
  try {
    const r = JSON.parse(text) as FsfreezeReply;
    return typeof r === "object" && r !== null && typeof r.id === "string" && typeof r.ok === "boolean" ? r : undefined;
  } catch {
    return undefined;
  }
}
