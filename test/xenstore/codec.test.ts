// Wire vectors for every message type, both directions: encoding must give exactly these bytes,
// and parsing them (whole, one byte at a time, all concatenated) must give the message back.
import { describe, expect, test } from "bun:test";
import {
  CodecError,
  decodeDirectoryPart,
  decodeError,
  decodeList,
  decodeString,
  decodeValue,
  decodeWatchEvent,
  encodeMessage,
  frame,
  initialParserState,
  isKnownType,
  MsgType,
  parse,
  PAYLOAD_MAX,
  typeName,
  type Message,
  type Parsed,
} from "../../src/xenstore/codec.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Vector {
  name: string;
  msg: Message;
  wire: string;
}

const v = (name: string, type: number, reqId: number, txId: number, payload: string, wire: string): Vector => ({
  name,
  msg: { type, reqId, txId, payload: text(payload) },
  wire,
});

// Requests: every type a client may send (xs_wire.h), header as 4 × uint32 LE | payload.
const requests: Vector[] = [
  v("CONTROL", 0, 1, 0, "print\0hello\0", "00000000 01000000 00000000 0c000000 | 7072696e740068656c6c6f00"),
  v("DIRECTORY", 1, 2, 0, "/local/domain/7\0", "01000000 02000000 00000000 10000000 | 2f6c6f63616c2f646f6d61696e2f3700"),
  v("READ", 2, 3, 0, "domid\0", "02000000 03000000 00000000 06000000 | 646f6d696400"),
  v("GET_PERMS", 3, 4, 0, "data\0", "03000000 04000000 00000000 05000000 | 6461746100"),
  v("WATCH", 4, 5, 0, "control/shutdown\0xga1\0", "04000000 05000000 00000000 16000000 | 636f6e74726f6c2f73687574646f776e007867613100"),
  v("UNWATCH", 5, 6, 0, "control/shutdown\0xga1\0", "05000000 06000000 00000000 16000000 | 636f6e74726f6c2f73687574646f776e007867613100"),
  v("TRANSACTION_START", 6, 7, 0, "\0", "06000000 07000000 00000000 01000000 | 00"),
  v("TRANSACTION_END", 7, 8, 0x2a, "T\0", "07000000 08000000 2a000000 02000000 | 5400"),
  v("INTRODUCE", 8, 9, 0, "7\x00123\x001\x00", "08000000 09000000 00000000 08000000 | 3700313233003100"),
  v("RELEASE", 9, 10, 0, "7\0", "09000000 0a000000 00000000 02000000 | 3700"),
  v("GET_DOMAIN_PATH", 10, 11, 0, "7\0", "0a000000 0b000000 00000000 02000000 | 3700"),
  v("WRITE", 11, 12, 0x2a, "data/x\0value", "0b000000 0c000000 2a000000 0c000000 | 646174612f780076616c7565"),
  v("MKDIR", 12, 13, 0, "data/dir\0", "0c000000 0d000000 00000000 09000000 | 646174612f64697200"),
  v("RM", 13, 14, 0, "data/x\0", "0d000000 0e000000 00000000 07000000 | 646174612f7800"),
  v("SET_PERMS", 14, 15, 0, "data/x\0n7\0r0\0", "0e000000 0f000000 00000000 0d000000 | 646174612f78006e3700723000"),
  v("IS_DOMAIN_INTRODUCED", 17, 16, 0, "7\0", "11000000 10000000 00000000 02000000 | 3700"),
  v("RESUME", 18, 17, 0, "7\0", "12000000 11000000 00000000 02000000 | 3700"),
  v("SET_TARGET", 19, 18, 0, "7\x000\x00", "13000000 12000000 00000000 04000000 | 37003000"),
  v("RESET_WATCHES", 21, 19, 0, "", "15000000 13000000 00000000 00000000"),
  v("DIRECTORY_PART", 22, 20, 0, "/big\x000\x00", "16000000 14000000 00000000 07000000 | 2f626967003000"),
  v("GET_FEATURE", 23, 21, 0, "", "17000000 15000000 00000000 00000000"),
  v("SET_FEATURE", 24, 22, 0, "7\x001\x00", "18000000 16000000 00000000 04000000 | 37003100"),
  v("GET_QUOTA", 25, 23, 0, "", "19000000 17000000 00000000 00000000"),
  v("SET_QUOTA", 26, 24, 0, "nodes\x00100\x00", "1a000000 18000000 00000000 0a000000 | 6e6f6465730031303000"),
];

// Replies (daemon → client), with what the client decodes from them.
const replies: Array<Vector & { decoded: unknown; decode: (p: Uint8Array) => unknown }> = [
  { ...v("DIRECTORY reply", 1, 2, 0, "data\0attr\0", "01000000 02000000 00000000 0a000000 | 64617461006174747200"), decoded: ["data", "attr"], decode: decodeList },
  { ...v("DIRECTORY reply (leaf)", 1, 2, 0, "", "01000000 02000000 00000000 00000000"), decoded: [], decode: decodeList },
  { ...v("READ reply", 2, 3, 0, "7", "02000000 03000000 00000000 01000000 | 37"), decoded: "7", decode: decodeValue },
  { ...v("READ reply (empty)", 2, 3, 0, "", "02000000 03000000 00000000 00000000"), decoded: "", decode: decodeValue },
  { ...v("GET_PERMS reply", 3, 4, 0, "n0\0r7\0", "03000000 04000000 00000000 06000000 | 6e3000723700"), decoded: ["n0", "r7"], decode: decodeList },
  { ...v("WATCH reply", 4, 5, 0, "OK\0", "04000000 05000000 00000000 03000000 | 4f4b00"), decoded: "OK", decode: decodeString },
  { ...v("UNWATCH reply", 5, 6, 0, "OK\0", "05000000 06000000 00000000 03000000 | 4f4b00"), decoded: "OK", decode: decodeString },
  { ...v("TRANSACTION_START reply", 6, 7, 0, "42\0", "06000000 07000000 00000000 03000000 | 343200"), decoded: "42", decode: decodeString },
  { ...v("TRANSACTION_END reply", 7, 8, 0x2a, "OK\0", "07000000 08000000 2a000000 03000000 | 4f4b00"), decoded: "OK", decode: decodeString },
  { ...v("GET_DOMAIN_PATH reply", 10, 11, 0, "/local/domain/7\0", "0a000000 0b000000 00000000 10000000 | 2f6c6f63616c2f646f6d61696e2f3700"), decoded: "/local/domain/7", decode: decodeString },
  { ...v("WRITE reply", 11, 12, 0x2a, "OK\0", "0b000000 0c000000 2a000000 03000000 | 4f4b00"), decoded: "OK", decode: decodeString },
  { ...v("WATCH_EVENT", 15, 0, 0, "control/shutdown\0xga1\0", "0f000000 00000000 00000000 16000000 | 636f6e74726f6c2f73687574646f776e007867613100"), decoded: { path: "control/shutdown", token: "xga1" }, decode: decodeWatchEvent },
  { ...v("ERROR", 16, 3, 0, "ENOENT\0", "10000000 03000000 00000000 07000000 | 454e4f454e5400"), decoded: "ENOENT", decode: decodeError },
  { ...v("IS_DOMAIN_INTRODUCED reply", 17, 16, 0, "T\0", "11000000 10000000 00000000 02000000 | 5400"), decoded: "T", decode: decodeString },
  { ...v("DIRECTORY_PART reply (last)", 22, 20, 0, "17\0a\0b\0\0", "16000000 14000000 00000000 08000000 | 3137006100620000"), decoded: { generation: "17", children: ["a", "b"], done: true }, decode: decodeDirectoryPart },
  { ...v("DIRECTORY_PART reply (more)", 22, 20, 0, "17\0a\0b\0", "16000000 14000000 00000000 07000000 | 31370061006200"), decoded: { generation: "17", children: ["a", "b"], done: false }, decode: decodeDirectoryPart },
];

function parseAll(chunks: Uint8Array[]): Parsed[] {
  let state = initialParserState;
  const out: Parsed[] = [];
  for (const c of chunks) {
    const r = parse(state, c);
    state = r.state;
    out.push(...r.items);
  }
  expect(state.pending.length).toBe(0);
  expect(state.skip).toBe(0);
  return out;
}

const bytewise = (b: Uint8Array): Uint8Array[] => [...b].map((x) => Uint8Array.of(x));

describe("requests encode to the exact wire bytes", () => {
  for (const vec of requests) {
    test(vec.name, () => {
      expect(typeName(vec.msg.type)).toBe(vec.name);
      expect(Buffer.from(encodeMessage(vec.msg)).toString("hex")).toBe(Buffer.from(hex(vec.wire)).toString("hex"));
    });
  }
});

describe("every vector parses back, whole and one byte at a time", () => {
  for (const vec of [...requests, ...replies]) {
    test(vec.name, () => {
      const expected = [{ kind: "message" as const, message: vec.msg }];
      expect(parseAll([hex(vec.wire)])).toEqual(expected);
      expect(parseAll(bytewise(hex(vec.wire)))).toEqual(expected);
    });
  }
  test("all vectors concatenated, in one chunk and in 7-byte chunks", () => {
    const all = Buffer.concat([...requests, ...replies].map((x) => hex(x.wire)));
    const expected = [...requests, ...replies].map((x) => ({ kind: "message" as const, message: x.msg }));
    expect(parseAll([all])).toEqual(expected);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += 7) chunks.push(all.subarray(i, i + 7));
    expect(parseAll(chunks)).toEqual(expected);
  });
});

describe("reply payloads decode", () => {
  for (const r of replies) {
    test(r.name, () => {
      expect(r.decode(r.msg.payload)).toEqual(r.decoded);
    });
  }
  test("frame() of a reply gives the vector bytes", () => {
    for (const r of replies) expect(Buffer.from(frame(r.msg)).toString("hex")).toBe(Buffer.from(hex(r.wire)).toString("hex"));
  });
});

describe("what the codec refuses", () => {
  test("type 20 (XS_RESTRICT, removed) and unknown types are not sendable", () => {
    for (const type of [20, 27, 65535, 128]) {
      expect(isKnownType(type)).toBe(false);
      expect(() => encodeMessage({ type, reqId: 1, txId: 0, payload: new Uint8Array() })).toThrow(CodecError);
    }
  });
  test("WATCH_EVENT and ERROR are server-only", () => {
    for (const type of [MsgType.WATCH_EVENT, MsgType.ERROR]) {
      expect(() => encodeMessage({ type, reqId: 1, txId: 0, payload: new Uint8Array() })).toThrow(CodecError);
    }
  });
  test("payload of 4096 bytes is fine, 4097 is refused", () => {
    const ok = encodeMessage({ type: MsgType.WRITE, reqId: 1, txId: 0, payload: new Uint8Array(PAYLOAD_MAX) });
    expect(ok.length).toBe(16 + 4096);
    expect(() => encodeMessage({ type: MsgType.WRITE, reqId: 1, txId: 0, payload: new Uint8Array(PAYLOAD_MAX + 1) })).toThrow(CodecError);
  });
  test("an unknown type from the peer is reported and its payload skipped, one byte at a time too", () => {
    const bad = frame({ type: 20, reqId: 9, txId: 0, payload: text("junk") });
    const good = hex(replies[2]!.wire);
    const wire = Buffer.concat([bad, good]);
    const expected = [
      { kind: "unknown-type" as const, type: 20, reqId: 9, txId: 0, len: 4 },
      { kind: "message" as const, message: replies[2]!.msg },
    ];
    expect(parseAll([wire])).toEqual(expected);
    expect(parseAll(bytewise(wire))).toEqual(expected);
  });
  test("an oversized reply is reported and skipped; the next message still parses", () => {
    const big = frame({ type: MsgType.READ, reqId: 4, txId: 0, payload: new Uint8Array(5000).fill(0x61) });
    const good = hex(replies[2]!.wire);
    const wire = Buffer.concat([big, good]);
    const expected = [
      { kind: "oversized" as const, type: 2, reqId: 4, txId: 0, len: 5000 },
      { kind: "message" as const, message: replies[2]!.msg },
    ];
    expect(parseAll([wire])).toEqual(expected);
    expect(parseAll([wire.subarray(0, 100), wire.subarray(100, 4000), wire.subarray(4000)])).toEqual(expected);
  });
  test("parser state is a value: feeding the same state twice gives the same result", () => {
    const wire = hex(requests[2]!.wire);
    const half = parse(initialParserState, wire.subarray(0, 10)).state;
    const a = parse(half, wire.subarray(10));
    const b = parse(half, wire.subarray(10));
    expect(a).toEqual(b);
    expect(a.items).toHaveLength(1);
  });
  test("malformed payloads decode to undefined", () => {
    expect(decodeError(text("not an errno\0"))).toBeUndefined();
    expect(decodeWatchEvent(text("no-token"))).toBeUndefined();
    expect(decodeDirectoryPart(text("no-nul"))).toBeUndefined();
  });
});
