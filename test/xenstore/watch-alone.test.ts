// WATCH/UNWATCH go alone on the wire: only when nothing else is in flight, and nothing else until
// their reply. On /dev/xen/xenbus anything else deadlocks the guest's kernel xenbus thread
// (see SENT_ALONE in src/xenstore/connection.ts).
import { expect, test } from "bun:test";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { encodeMessage, initialParserState, MsgType, parse, type Message } from "../../src/xenstore/codec.ts";
import type { Transport, TransportSink } from "../../src/xenstore/transport.ts";

/** A transport whose peer answers only when the test says so. */
class ScriptedTransport implements Transport {
  readonly name = "scripted";
  sink!: TransportSink;
  readonly written: Message[] = [];
  private parser = initialParserState;
  open(sink: TransportSink): void {
    this.sink = sink;
  }
  write(bytes: Uint8Array): void {
    const { state, items } = parse(this.parser, bytes);
    this.parser = state;
    for (const it of items) if (it.kind === "message") this.written.push(it.message);
  }
  close(): void {}
  /** Answers the written request with this req_id. */
  answer(reqId: number): void {
    const m = this.written.find((w) => w.reqId === reqId)!;
    const payload = m.type === MsgType.READ ? new TextEncoder().encode("v") : new TextEncoder().encode("OK\0");
    this.sink.data(encodeMessage({ type: m.type, reqId, txId: 0, payload }));
  }
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

test("a WATCH waits for the requests in flight and holds back the ones after it", async () => {
  const t = new ScriptedTransport();
  const c = new XenstoreClient(t, { timeoutMs: 5000 });
  const reads = [c.read("data/a"), c.read("data/b")];
  const watch = c.watch("data/w", () => {});
  const after = c.read("data/c");
  await tick();
  expect(t.written.map((m) => m.type)).toEqual([MsgType.READ, MsgType.READ]);

  t.answer(t.written[0]!.reqId);
  await tick();
  expect(t.written).toHaveLength(2); // one read still unanswered: the WATCH waits
  t.answer(t.written[1]!.reqId);
  await Promise.all(reads);
  await tick();
  expect(t.written.map((m) => m.type)).toEqual([MsgType.READ, MsgType.READ, MsgType.WATCH]);

  await tick();
  expect(t.written).toHaveLength(3); // the read after the WATCH waits for its reply
  t.answer(t.written[2]!.reqId);
  await watch;
  await tick();
  expect(t.written.map((m) => m.type)).toEqual([MsgType.READ, MsgType.READ, MsgType.WATCH, MsgType.READ]);
  t.answer(t.written[3]!.reqId);
  expect(await after).toBe("v");
  c.close();
});

test("on the xenbus device one request at a time: the next is written only after the reply", async () => {
  const { clientOptionsFor, DEVICE_MAX_IN_FLIGHT } = await import("../../src/xenstore/connect.ts");
  expect(DEVICE_MAX_IN_FLIGHT).toBe(1);
  expect(clientOptionsFor("socket", {}).maxInFlight).toBeUndefined();
  const t = new ScriptedTransport();
  const c = new XenstoreClient(t, clientOptionsFor("device", { timeoutMs: 5000 }));
  const reads = [c.read("data/a"), c.read("data/b"), c.read("data/c")];
  for (let i = 0; i < 3; i++) {
    await tick();
    expect(t.written).toHaveLength(i + 1); // the driver would overwrite an unsent request
    t.answer(t.written[i]!.reqId);
  }
  expect(await Promise.all(reads)).toEqual(["v", "v", "v"]);
  c.close();
});
