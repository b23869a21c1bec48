// Typed failures of the xenstore client. Four kinds, kept apart because callers act on them
// differently: a daemon's `ERROR` reply (XenstoreError, carries the E* name: retry on EAGAIN,
// ignore ENOENT…), a dead connection (reconnect), a request with no reply (reconnect or retry),
// and bytes from the peer that break the protocol (log; only the affected request fails).

/**
 * The daemon answered `XS_ERROR` (xs_wire.h): `code` is the name it sent (`ENOENT`, `EACCES`,
 * `EAGAIN`, `E2BIG`, `ENOSPC`, and `EQUOTA` from oxenstored…). The client also raises it itself,
 * before sending, for requests the daemon would refuse: `EINVAL` for a bad path, `E2BIG` for a
 * payload over 4096 bytes.
 */
export class XenstoreError extends Error {
  override name = "XenstoreError";
  constructor(
    readonly code: string,
    readonly op: string,
    readonly path?: string,
    /** Why the client refused it itself (`trailing /`); undefined for the daemon's answers. */
    detail?: string,
  ) {
    super(`${op}${path === undefined ? "" : ` ${path}`}: ${code}${detail === undefined ? "" : ` (${detail})`}`);
  }
}

/** The connection was lost or closed; the request may or may not have been carried out. */
export class XenstoreConnectionError extends Error {
  override name = "XenstoreConnectionError";
}

/** No reply within the client's timeout; the request may still be carried out later. */
export class XenstoreTimeoutError extends Error {
  override name = "XenstoreTimeoutError";
}

/** The peer sent something the protocol does not allow (oversized, unknown type, bad payload). */
export class XenstoreProtocolError extends Error {
  override name = "XenstoreProtocolError";
}

/** True when `e` is a daemon answer with the given code: `isXenstoreCode(e, "ENOENT")`. */
export function isXenstoreCode(e: unknown, code: string): e is XenstoreError {
  return e instanceof XenstoreError && e.code === code;
}

/** The value at `path`, or undefined when there is none (ENOENT); other failures are thrown. */
export async function readIfPresent(ops: { read(path: string): Promise<string> }, path: string): Promise<string | undefined> {
  try {
    return await ops.read(path);
  } catch (e) {
    if (isXenstoreCode(e, "ENOENT")) return undefined;
    throw e;
  }
}
