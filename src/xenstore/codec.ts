// The xenstore wire format, with no I/O: message types, the 16-byte header, payload encoders and
// decoders, and an incremental frame parser whose whole state is a value.
//
// Source of truth: xen/include/public/io/xs_wire.h. `struct xsd_sockmsg` is four uint32 in host
// byte order (type, req_id, tx_id, len); every Xen platform Linux runs on is little-endian, and
// both xenstored and the Linux xenbus driver copy the struct as is.

/** `enum xsd_sockmsg_type`. 20 was XS_RESTRICT, removed from xs_wire.h in 2017: never valid. */
export const MsgType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

const TYPE_NAMES = new Map<number, string>(Object.entries(MsgType).map(([k, v]) => [v, k]));

/** The name of a type (`READ`), or `type <n>` for anything xs_wire.h does not define. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type ${type}`;
}

/** True for the types xs_wire.h defines (0–26 except the removed 20). */
export function isKnownType(type: number): type is MsgType {
  return TYPE_NAMES.has(type);
}

export const HEADER_SIZE = 16;
/** XENSTORE_PAYLOAD_MAX: a longer message gets the connection killed by xenstored. */
export const PAYLOAD_MAX = 4096;
/** XENSTORE_ABS_PATH_MAX and XENSTORE_REL_PATH_MAX. */
export const ABS_PATH_MAX = 3072;
export const REL_PATH_MAX = 2048;

export interface Message {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** A codec misuse on our side (bad type, payload too long): a bug or a caller error, never I/O. */
export class CodecError extends Error {
  override name = "CodecError";
}

/** Header + payload as one buffer, ready for a single write(). */
export function encodeMessage(msg: Message): Uint8Array {
  if (!isKnownType(msg.type) || msg.type === MsgType.WATCH_EVENT || msg.type === MsgType.ERROR) {
    throw new CodecError(`cannot send message ${typeName(msg.type)}`);
  }
  if (msg.payload.length > PAYLOAD_MAX) {
    throw new CodecError(`payload of ${msg.payload.length} bytes exceeds ${PAYLOAD_MAX}`);
  }
  return frame(msg);
}

/** Header + payload without request checks: the test server uses it for replies and faults. */
export function frame(msg: Message): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + msg.payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, msg.type, true);
  view.setUint32(4, msg.reqId >>> 0, true);
  view.setUint32(8, msg.txId >>> 0, true);
  view.setUint32(12, msg.payload.length, true);
  out.set(msg.payload, HEADER_SIZE);
  return out;
}

// --- payloads ---------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** `s1\0s2\0…`: every string NUL-terminated (paths, tokens, permissions). */
export function nulTerminated(...parts: string[]): Uint8Array {
  return utf8.encode(parts.map((p) => `${p}\0`).join(""));
}

/** WRITE: `path\0value`, the value not NUL-terminated (xs_wire.h; xenstored stores it as sent). */
export function writePayload(path: string, value: string): Uint8Array {
  return utf8.encode(`${path}\0${value}`);
}

/** The payload as text, without one trailing NUL (GET_DOMAIN_PATH, TRANSACTION_START add one). */
export function decodeString(payload: Uint8Array): string {
  const end = payload.length > 0 && payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
  return fromUtf8.decode(payload.subarray(0, end));
}

/** READ replies are the raw value: a trailing NUL, if any, is part of it. */
export function decodeValue(payload: Uint8Array): string {
  return fromUtf8.decode(payload);
}

/** `a\0b\0` → [a, b]; an empty payload is an empty list (DIRECTORY of a leaf, GET_PERMS). */
export function decodeList(payload: Uint8Array): string[] {
  if (payload.length === 0) return [];
  const text = fromUtf8.decode(payload);
  const parts = text.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** `XS_ERROR` payload: the errno name, NUL-terminated (`ENOENT\0`). */
export function decodeError(payload: Uint8Array): string | undefined {
  const name = decodeString(payload);
  return /^E[A-Z0-9]+$/.test(name) ? name : undefined;
}

/** `XS_WATCH_EVENT` payload: `path\0token\0`. */
export function decodeWatchEvent(payload: Uint8Array): { path: string; token: string } | undefined {
  const parts = fromUtf8.decode(payload).split("\0");
  const [path, token] = parts;
  if (parts.length < 2 || path === undefined || token === undefined || path === "") return undefined;
  return { path, token };
}

/**
 * `XS_DIRECTORY_PART` reply: `gencnt\0child\0…`. The last part ends with an extra `\0` (an empty
 * child name), which is how xenstored says the listing is complete (tools/xenstored/core.c
 * send_directory_part; libxenstore xs_directory_part).
 */
export function decodeDirectoryPart(
  payload: Uint8Array,
): { generation: string; children: string[]; done: boolean } | undefined {
  const text = fromUtf8.decode(payload);
  const first = text.indexOf("\0");
  if (first < 0) return undefined;
  const generation = text.slice(0, first);
  let rest = text.slice(first + 1);
  const done = rest === "" || rest.endsWith("\0\0") || rest === "\0";
  if (done) rest = rest.slice(0, Math.max(0, rest.length - 1));
  const children = rest === "" ? [] : rest.split("\0");
  if (children[children.length - 1] === "") children.pop();
  return { generation, children, done };
}

// --- incremental parser -----------------------------------------------------------------------

/** Everything the parser remembers between chunks: bytes of an incomplete message, bytes to skip. */
export interface ParserState {
  readonly pending: Uint8Array;
  /** Payload bytes of a rejected (oversized or unknown-type) message still to be discarded. */
  readonly skip: number;
}

export type Parsed =
  | { kind: "message"; message: Message }
  /** A header that announces more than PAYLOAD_MAX: the payload is skipped, the stream goes on. */
  | { kind: "oversized"; type: number; reqId: number; txId: number; len: number }
  /** A type xs_wire.h does not define (or 20): the payload is skipped, the stream goes on. */
  | { kind: "unknown-type"; type: number; reqId: number; txId: number; len: number };

export const initialParserState: ParserState = { pending: new Uint8Array(0), skip: 0 };

/** Feeds one chunk: returns the next state and every complete item, in stream order. */
export function parse(state: ParserState, chunk: Uint8Array): { state: ParserState; items: Parsed[] } {
  const items: Parsed[] = [];
  let skip = state.skip;
  let data = chunk;
  if (skip > 0) {
    const n = Math.min(skip, data.length);
    skip -= n;
    data = data.subarray(n);
  }
  let buf = state.pending.length === 0 ? data : concat(state.pending, data);
  let off = 0;
  while (skip === 0 && buf.length - off >= HEADER_SIZE) {
    const view = new DataView(buf.buffer, buf.byteOffset + off, HEADER_SIZE);
    const type = view.getUint32(0, true);
    const reqId = view.getUint32(4, true);
    const txId = view.getUint32(8, true);
    const len = view.getUint32(12, true);
    if (len > PAYLOAD_MAX || !isKnownType(type)) {
      items.push({ kind: len > PAYLOAD_MAX ? "oversized" : "unknown-type", type, reqId, txId, len });
      off += HEADER_SIZE;
      const n = Math.min(len, buf.length - off);
      off += n;
      skip = len - n;
      continue;
    }
    if (buf.length - off < HEADER_SIZE + len) break;
    const payload = buf.slice(off + HEADER_SIZE, off + HEADER_SIZE + len);
    items.push({ kind: "message", message: { type, reqId, txId, payload } });
    off += HEADER_SIZE + len;
  }
  buf = buf.subarray(off);
  // Keep a copy: the caller may reuse its chunk buffer.
  return { state: { pending: buf.length === 0 ? new Uint8Array(0) : buf.slice(), skip }, items };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
