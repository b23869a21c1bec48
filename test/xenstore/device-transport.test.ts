// The xenbus device transport (a Worker blocked in read(), one write() per message) on fds that
// behave like the device: a socketpair we drive byte by byte, and a connection to the in-process
// server or the real daemons' guest bridge (what a domU sees). There is no real /dev/xen/xenbus
// here; the real device is exercised in the Xen rig run.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readSocket } from "../../native/socket-reader.ts";
import { closeFd, connectUnixSocket, writeAll } from "../../native/unix-socket.ts";
import { socketPair } from "../support/native/test-libc.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { frame, MsgType } from "../../src/xenstore/codec.ts";
import { DeviceTransport } from "../../src/xenstore/device-transport.ts";
import { XenstoreConnectionError } from "../../src/xenstore/errors.ts";
import { realXenstoredUnavailable, startRealXenstored } from "../support/xenstored.ts";
import { eventQueue } from "./helpers.ts";
import { TestXenstored } from "./server/server.ts";

const reply = (type: number, reqId: number, payload: string): Uint8Array =>
  frame({ type, reqId, txId: 0, payload: new TextEncoder().encode(payload) });

describe("Worker reader on a socketpair", () => {
  let ours: number;
  let peer: number;
  let client: XenstoreClient;
  beforeEach(() => {
    [ours, peer] = socketPair();
    client = new XenstoreClient(new DeviceTransport("/dev/xen/xenbus", ours), { timeoutMs: 3000 });
  });
  afterEach(() => {
    client.close();
    closeFd(peer);
  });

  test("names itself after the device", () => {
    expect(client.transport).toBe("device:/dev/xen/xenbus");
  });

  test("a reply delivered one byte per write() is reassembled", async () => {
    const p = client.read("domid"); // req_id 1
    for (const b of reply(MsgType.READ, 1, "7")) writeAll(peer, Uint8Array.of(b));
    expect(await p).toBe("7");
  });

  test("several replies and a watch event in one write() are all dispatched", async () => {
    const events = eventQueue<string>();
    const w = client.watch("control/shutdown", (p) => events.push(p)); // req_id 1, token xga1
    const a = client.read("a"); // 2
    const b = client.read("b"); // 3
    writeAll(
      peer,
      Buffer.concat([
        reply(MsgType.READ, 3, "B"),
        reply(MsgType.WATCH, 1, "OK\0"),
        reply(MsgType.WATCH_EVENT, 0, "control/shutdown\0xga1\0"),
        reply(MsgType.READ, 2, "A"),
      ]),
    );
    await w;
    expect([await a, await b]).toEqual(["A", "B"]);
    expect(await events.next()).toBe("control/shutdown");
  });

  test("a WATCH reply with req_id 0 (old xenbus drivers) still completes the watch", async () => {
    const events = eventQueue<string>();
    const w = client.watch("control/shutdown", (p) => events.push(p)); // req_id 1, token xga1
    writeAll(peer, Buffer.concat([reply(MsgType.WATCH, 0, "OK\0"), reply(MsgType.WATCH_EVENT, 0, "control/shutdown\0xga1\0")]));
    await w;
    expect(await events.next()).toBe("control/shutdown");
  });

  test("a TRANSACTION_START reply that is not an id fails the transaction, not tx 0", async () => {
    const tx = client.transaction(async (t) => t.write("data/x", "1")); // req_id 1
    writeAll(peer, reply(MsgType.TRANSACTION_START, 1, "\0"));
    expect(await tx.catch((e) => e.name)).toBe("XenstoreProtocolError");
  });

  test("each request reaches the fd as one whole message", async () => {
    void client.write("data/x", "v").catch(() => {});
    const buf = new Uint8Array(4096);
    const { libc } = await import("../../native/libc.ts");
    const n = Number(libc().read(peer, buf, buf.length));
    expect(Buffer.from(buf.subarray(0, n)).toString("hex")).toBe(
      Buffer.from(frame({ type: MsgType.WRITE, reqId: 1, txId: 0, payload: new TextEncoder().encode("data/x\0v") })).toString("hex"),
    );
  });

  test("end of file surfaces once as a lost connection and fails what is in flight", async () => {
    const lost = eventQueue<Error>();
    client.onConnectionLost((e) => lost.push(e));
    const p = client.read("domid");
    closeFd(peer);
    peer = -1;
    expect(await p.catch((e) => e)).toBeInstanceOf(XenstoreConnectionError);
    expect((await lost.next()).message).toMatch(/end of file|ECONNRESET/); // RST when our request was unread
  });

  test("close() while the Worker sleeps fails what is in flight at once", async () => {
    const p = client.read("domid");
    client.close();
    expect(await p.catch((e) => e)).toBeInstanceOf(XenstoreConnectionError);
  });

  test("close() wakes the Worker and the fd is really closed, without any traffic", async () => {
    const ended = eventQueue<string>();
    const reader = readSocket(peer, {
      data: () => {},
      error: (e) => (ended.push(e.code), false),
      end: () => ended.push("end"),
    });
    client.close();
    expect(await ended.next()).toBe("end"); // the peer sees our side closed
    reader.stop();
  });
});

describe("device transport against the in-process server", () => {
  let srv: TestXenstored;
  let client: XenstoreClient;
  beforeEach(async () => {
    srv = await TestXenstored.start();
    const path = srv.addGuest(3);
    client = new XenstoreClient(new DeviceTransport("/dev/xen/xenbus", connectUnixSocket(path)));
  });
  afterEach(async () => {
    client.close();
    await srv.stop();
  });

  test("operations, pipelining, watches and transactions work through the Worker", async () => {
    expect(await client.read("domid")).toBe("3");
    await Promise.all(Array.from({ length: 200 }, (_, i) => client.write(`data/n${i % 20}`, String(i))));
    expect(await client.read("data/n19")).toBe("199");
    const events = eventQueue<string>();
    await client.watch("data", (p) => events.push(p));
    expect(await events.next()).toBe("data");
    await client.transaction(async (tx) => tx.write("data/t", "1"));
    expect(await events.next()).toBe("data/t");
  });

  test("the server dropping the connection is reported once", async () => {
    const lost = eventQueue<Error>();
    client.onConnectionLost((e) => lost.push(e));
    await client.read("domid");
    srv.faults.dropConnections();
    expect(await lost.next()).toBeInstanceOf(XenstoreConnectionError);
  });
});

const realReason = realXenstoredUnavailable("c");
if (realReason) console.warn(`SKIP device transport on the real xenstored: ${realReason}`);

test.skipIf(realReason !== undefined)(
  `device transport through the real C xenstored's guest bridge${realReason ? ` [SKIPPED: ${realReason}]` : ""}`,
  async () => {
    const xs = await startRealXenstored("c");
    try {
      const c = new XenstoreClient(new DeviceTransport("/dev/xen/xenbus", connectUnixSocket(xs.guestSocketPath)));
      expect(await c.read("domid")).toBe(String(xs.domid));
      await c.write("data/via-worker", "1");
      expect(await c.read("data/via-worker")).toBe("1");
      expect(await c.write("/local/domain/0/x", "1").catch((e) => e.code)).toBe("EACCES");
      c.close();
    } finally {
      await xs.stop();
    }
  },
);

