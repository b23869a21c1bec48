// The client against the in-process server and its fault hooks: multiplexing, watches,
// transactions, limits, and every way a connection can go wrong.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { MsgType, frame, nulTerminated } from "../../src/xenstore/codec.ts";
import {
  XenstoreConnectionError,
  XenstoreError,
  XenstoreProtocolError,
  XenstoreTimeoutError,
} from "../../src/xenstore/errors.ts";
import type { XenstoreClient } from "../../src/xenstore/client.ts";
import { eventQueue, socketClient } from "./helpers.ts";
import { TestXenstored } from "./server/server.ts";

let srv: TestXenstored;
let clients: XenstoreClient[];
const DOMID = 5;
let guestPath: string;

beforeEach(async () => {
  srv = await TestXenstored.start();
  guestPath = srv.addGuest(DOMID);
  clients = [];
});
afterEach(async () => {
  for (const c of clients) c.close();
  await srv.stop();
});

function dom0(opts?: Parameters<typeof socketClient>[1]): XenstoreClient {
  const c = socketClient(srv.dom0SocketPath, opts);
  clients.push(c);
  return c;
}
function guest(opts?: Parameters<typeof socketClient>[1]): XenstoreClient {
  const c = socketClient(guestPath, opts);
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("operations", () => {
  test("write, read, directory, mkdir, rm, perms, domain path", async () => {
    const c = dom0();
    await c.write("/a/b/c", "hello");
    expect(await c.read("/a/b/c")).toBe("hello");
    expect(await c.read("/a/b")).toBe("");
    await c.mkdir("/a/d");
    expect((await c.directory("/a")).sort()).toEqual(["b", "d"]);
    expect(await c.getPerms("/a/b/c")).toEqual(["n0"]);
    await c.setPerms("/a/b/c", ["n0", `r${DOMID}`]);
    expect(await c.getPerms("/a/b/c")).toEqual(["n0", `r${DOMID}`]);
    await c.rm("/a/b");
    expect(await c.directory("/a")).toEqual(["d"]);
    expect(await c.getDomainPath(DOMID)).toBe(`/local/domain/${DOMID}`);
    const e = await rejection(c.read("/a/b/c"));
    expect(e).toBeInstanceOf(XenstoreError);
    expect(e).toMatchObject({ code: "ENOENT", op: "READ", path: "/a/b/c" });
  });

  test("a guest uses relative paths and is denied outside its tree", async () => {
    const g = guest();
    expect(await g.read("domid")).toBe(String(DOMID));
    await g.write("data/x", "1");
    expect(await srv.store.lookup(`/local/domain/${DOMID}/data/x`)?.value).toBe("1");
    expect(await rejection(g.write("/local/domain/0/x", "1"))).toMatchObject({ code: "EACCES" });
    expect(await rejection(g.write("control/foo", "1"))).toMatchObject({ code: "EACCES" });
    expect(await rejection(g.read("/local/domain/0/nope"))).toMatchObject({ code: "EACCES" });
    expect(await g.getPerms("data/x")).toEqual([`n${DOMID}`]);
    expect(await rejection(g.setPerms("data/x", ["n0"]))).toMatchObject({ code: "EPERM" });
  });

  test("bad paths and oversized values are refused before anything is sent", async () => {
    const c = dom0();
    srv.faults.dropConnections(); // anything sent now would fail as a lost connection instead
    for (const p of ["", "/a//b", "/a/", "/a b", `/${"x".repeat(3072)}`]) {
      expect(await rejection(c.write(p, "v"))).toMatchObject({ name: "XenstoreError", code: "EINVAL", op: "WRITE" });
    }
    expect(await rejection(c.read("a.b"))).toMatchObject({ code: "EINVAL", op: "READ" });
    expect((await rejection(c.read("/a/"))).message).toBe("READ /a/: EINVAL (trailing /)");
    expect(await rejection(c.setPerms("/a", ["x1"]))).toMatchObject({ code: "EINVAL" });
  });

  test("payload over 4096 bytes is E2BIG locally; exactly 4096 goes out", async () => {
    const c = dom0();
    const path = "/v";
    expect(await rejection(c.write(path, "x".repeat(4096 - path.length)))).toMatchObject({ code: "E2BIG", op: "WRITE" });
    await c.write(path, "x".repeat(4096 - path.length - 1));
    expect((await c.read(path)).length).toBe(4096 - path.length - 1);
  });

  test("a directory too big for one reply is fetched with DIRECTORY_PART", async () => {
    const c = dom0();
    const names = Array.from({ length: 400 }, (_, i) => `child-with-a-long-name-${String(i).padStart(4, "0")}`);
    await Promise.all(names.map((n) => c.write(`/big/${n}`, "")));
    const e = await rejection((c as unknown as { conn: { request(t: number, p: Uint8Array): Promise<Uint8Array> } }).conn.request(MsgType.DIRECTORY, nulTerminated("/big")));
    expect(e).toMatchObject({ code: "E2BIG" });
    expect((await c.directory("/big")).sort()).toEqual(names);
  });
});

describe("multiplexing", () => {
  test("many requests in flight; replies matched by req_id even when reordered", async () => {
    const c = dom0();
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.write(`/m/${i}`, `v${i}`)));
    srv.faults.reorderNext(10);
    const values = await Promise.all(Array.from({ length: 10 }, (_, i) => c.read(`/m/${i}`)));
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
  });

  test("1000 pipelined writes complete (bounded window, no deadlock)", async () => {
    const c = dom0();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => c.write(`/p/${i % 100}`, String(i))));
    expect(await c.read("/p/99")).toBe("999");
  });
});

describe("watches", () => {
  test("fires on registration, on the node and on descendants; unwatch stops it", async () => {
    const c = dom0();
    const events = eventQueue<string>();
    const w = await c.watch("/w", (p) => events.push(p));
    expect(await events.next()).toBe("/w");
    await c.write("/w/a/b", "1"); // creates /w and /w/a too; the daemons report only /w/a/b
    expect(await events.next()).toBe("/w/a/b");
    await c.write("/other", "1");
    await c.rm("/w");
    expect(await events.next()).toBe("/w");
    await w.unwatch();
    await c.write("/w/x", "1");
    await c.read("/w/x"); // a full round trip: an event would have arrived before this reply
    expect(events.pending).toEqual([]);
  });

  test("a relative watch gets relative event paths; removal of an ancestor reports the watch", async () => {
    const g = guest();
    const d = dom0();
    const events = eventQueue<string>();
    await g.watch("data", (p) => events.push(p));
    expect(await events.next()).toBe("data");
    await g.write("data/w1", "v");
    expect(await events.next()).toBe("data/w1");
    await d.write(`/local/domain/${DOMID}/data/w2`, "v");
    expect(await events.next()).toBe("data/w2");
    srv.replaceDomain(DOMID); // migration: the domain's tree is replaced
    expect(await events.next()).toBe("data");
  });

  test("two watches on one path have their own tokens", async () => {
    const c = dom0();
    const a = eventQueue<string>();
    const b = eventQueue<string>();
    await c.watch("/t", (p) => a.push(p));
    const wb = await c.watch("/t", (p) => b.push(p));
    expect(await a.next()).toBe("/t");
    expect(await b.next()).toBe("/t");
    await wb.unwatch();
    await c.write("/t", "1");
    expect(await a.next()).toBe("/t");
    await c.read("/t");
    expect(b.pending).toEqual([]);
  });
});

describe("transactions", () => {
  test("commits the body's writes atomically", async () => {
    const c = dom0();
    await c.write("/tx/n", "1");
    const r = await c.transaction(async (tx) => {
      const n = Number(await tx.read("/tx/n"));
      await tx.write("/tx/n", String(n + 1));
      await tx.write("/tx/other", "x");
      expect(await c.read("/tx/n")).toBe("1"); // not visible before commit
      return n + 1;
    });
    expect(r).toBe(2);
    expect(await c.read("/tx/n")).toBe("2");
  });

  test("a real conflict gives EAGAIN on commit and the whole body runs again", async () => {
    const c = dom0();
    await c.write("/tx/n", "1");
    let runs = 0;
    const r = await c.transaction(async (tx) => {
      runs++;
      const n = Number(await tx.read("/tx/n"));
      if (runs === 1) await c.write("/tx/n", "10"); // someone else, outside the transaction
      await tx.write("/tx/n", String(n + 1));
      return n + 1;
    });
    expect(runs).toBe(2);
    expect(r).toBe(11);
    expect(await c.read("/tx/n")).toBe("11");
  });

  test("EAGAIN N times: body runs N+1 times; beyond maxAttempts the EAGAIN is thrown", async () => {
    const c = dom0();
    srv.faults.eagainCommits(2);
    let runs = 0;
    await c.transaction(async (tx) => {
      runs++;
      await tx.write("/tx/a", String(runs));
    });
    expect(runs).toBe(3);
    expect(await c.read("/tx/a")).toBe("3");

    srv.faults.eagainCommits(5);
    runs = 0;
    const e = await rejection(c.transaction(async (tx) => void (runs++, await tx.write("/tx/a", "x")), { maxAttempts: 3 }));
    expect(e).toMatchObject({ code: "EAGAIN", op: "TRANSACTION_END" });
    expect(runs).toBe(3);
  });

  test("any other error aborts the transaction and is rethrown; nothing is committed", async () => {
    const c = dom0();
    const e = await rejection(
      c.transaction(async (tx) => {
        await tx.write("/tx/partial", "1");
        await tx.read("/tx/missing");
      }),
    );
    expect(e).toMatchObject({ code: "ENOENT" });
    expect(await rejection(c.read("/tx/partial"))).toMatchObject({ code: "ENOENT" });
  });
});

describe("limits", () => {
  test("a guest over its node quota gets the daemon's error (C flavour: ENOSPC)", async () => {
    await srv.stop();
    srv = await TestXenstored.start({ limits: { nodesPerDomain: 30 } });
    guestPath = srv.addGuest(DOMID);
    const g = guest();
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => g.write(`data/q${i}`, "v")));
    const errs = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code);
    expect(errs.length).toBeGreaterThan(0);
    expect(new Set(errs)).toEqual(new Set(["ENOSPC"]));
  });
});

describe("failures", () => {
  test("a lost connection fails everything in flight, fires once, and fails later requests at once", async () => {
    const c = dom0();
    await c.write("/x", "1");
    const lost = eventQueue<Error>();
    c.onConnectionLost((e) => lost.push(e));
    srv.faults.swallowNext(3);
    const inflight = [c.read("/x"), c.read("/x"), c.write("/y", "2")];
    await c.read("/x").catch(() => {}); // make sure the three were sent
    srv.faults.dropConnections();
    for (const p of inflight) expect(await rejection(p)).toBeInstanceOf(XenstoreConnectionError);
    expect(await lost.next()).toBeInstanceOf(XenstoreConnectionError);
    expect(await rejection(c.read("/x"))).toBeInstanceOf(XenstoreConnectionError);
    c.onConnectionLost((e) => lost.push(e)); // late subscriber hears it once too
    expect(await lost.next()).toBeInstanceOf(XenstoreConnectionError);
    await c.read("/x").catch(() => {});
    expect(lost.pending).toEqual([]);
  });

  test("a request with no reply times out and the connection is declared lost (everything behind it would wait forever)", async () => {
    const c = dom0({ timeoutMs: 100 });
    const lost = new Promise<Error>((resolve) => c.onConnectionLost(resolve));
    srv.faults.swallowNext(1);
    const e = await rejection(c.read("/tool/xenstored"));
    expect(e).toBeInstanceOf(XenstoreTimeoutError);
    expect(e.message).toContain("READ /tool/xenstored");
    expect((await lost).message).toContain("no reply within 100 ms");
    expect(await rejection(c.read("/tool/xenstored"))).toBeInstanceOf(XenstoreConnectionError);
  });

  test("the reply timeout runs from when a request is sent, not queued: a long queue does not time out", async () => {
    const c = dom0({ timeoutMs: 300, maxInFlight: 1 });
    srv.faults.delayReplies(40);
    // 20 requests one at a time, 40 ms each: the last is queued for ~800 ms, far over the timeout.
    const values = await Promise.all(Array.from({ length: 20 }, () => c.read("/tool/xenstored")));
    expect(values).toHaveLength(20);
  });

  test("a daemon answering slowly but steadily (a write rate limit): 20 pipelined requests over 5 timeouts all complete, the connection stays", async () => {
    const c = dom0({ timeoutMs: 200 });
    let lost: Error | undefined;
    c.onConnectionLost((e) => (lost = e));
    srv.faults.paceReplies(50);
    const started = performance.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.write(`/paced/${i}`, "1")));
    expect(performance.now() - started).toBeGreaterThan(900); // the last reply came ~1 s after it was sent
    expect(lost).toBeUndefined();
    srv.faults.paceReplies(0);
  });

  test("a daemon answering slower than the timeout: the connection is declared lost", async () => {
    const c = dom0({ timeoutMs: 100 });
    const lost = new Promise<Error>((resolve) => c.onConnectionLost(resolve));
    srv.faults.paceReplies(250);
    const results = await Promise.allSettled([c.read("/x"), c.read("/x"), c.read("/x")]);
    expect(results.some((r) => r.status === "rejected" && r.reason instanceof XenstoreTimeoutError)).toBe(true);
    expect((await lost).message).toContain("no reply within 100 ms");
    srv.faults.paceReplies(0);
  });

  test("delayed replies are waited for", async () => {
    const c = dom0({ timeoutMs: 2000 });
    srv.faults.delayReplies(50);
    expect(await c.getDomainPath(3)).toBe("/local/domain/3");
  });

  test("an oversized reply fails only its request", async () => {
    const c = dom0();
    srv.faults.rewriteNextReply((r) => frame({ ...r, payload: new Uint8Array(5000).fill(0x61) }));
    expect(await rejection(c.read("/tool/xenstored"))).toBeInstanceOf(XenstoreProtocolError);
    expect(await c.read("/tool/xenstored")).toBe("");
  });

  test("a malformed ERROR reply or a reply of the wrong type fails only its request", async () => {
    const c = dom0();
    srv.faults.rewriteNextReply((r) => frame({ ...r, type: MsgType.ERROR, payload: nulTerminated("garbage here") }));
    expect(await rejection(c.read("/tool/xenstored"))).toBeInstanceOf(XenstoreProtocolError);
    srv.faults.rewriteNextReply((r) => frame({ ...r, type: MsgType.DIRECTORY }));
    expect(await rejection(c.read("/tool/xenstored"))).toBeInstanceOf(XenstoreProtocolError);
    expect(await c.read("/tool/xenstored")).toBe("");
  });

  test("junk from the peer (unknown type, unknown req_id, bad watch event) is dropped", async () => {
    const c = dom0();
    srv.faults.inject(frame({ type: 20, reqId: 77, txId: 0, payload: nulTerminated("x") }));
    srv.faults.inject(frame({ type: MsgType.READ, reqId: 12345, txId: 0, payload: nulTerminated("x") }));
    srv.faults.inject(frame({ type: MsgType.WATCH_EVENT, reqId: 0, txId: 0, payload: new Uint8Array([1]) }));
    srv.faults.inject(frame({ type: MsgType.WATCH_EVENT, reqId: 0, txId: 0, payload: nulTerminated("/x", "nobody") }));
    expect(await c.read("/tool/xenstored")).toBe("");
  });

  test("close() fails what is in flight, without the connection-lost event", async () => {
    const c = dom0();
    let fired = false;
    c.onConnectionLost(() => {
      fired = true;
    });
    srv.faults.swallowNext(1);
    const p = c.read("/tool/xenstored");
    c.close();
    expect(await rejection(p)).toBeInstanceOf(XenstoreConnectionError);
    c.close(); // idempotent
    expect(fired).toBe(false);
  });

  test("a throwing watch callback does not break the connection", async () => {
    const c = dom0();
    await c.watch("/boom", () => {
      throw new Error("callback bug");
    });
    await c.write("/boom", "1");
    expect(await c.read("/boom")).toBe("1");
  });
});
