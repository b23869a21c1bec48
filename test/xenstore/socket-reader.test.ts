// native/socket-reader.ts on real sockets: every readiness is read (a request/reply exchange of
// thousands of rounds; this alone never made Bun 1.4.5's stream lose its re-arm, the fsfreeze keys
// test did in about one run in ten, and it is the check of the fix), a backlog longer than one
// wake-up's reads is delivered whole and in order, the end of stream and errors reach the handlers
// once, and stop() ends delivery and the reader's thread.
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { readSocket, type SocketReaderHandlers } from "../../native/socket-reader.ts";
import { closeFd, writeAll } from "../../native/unix-socket.ts";
import { socketPair } from "../support/native/test-libc.ts";
import { eventQueue } from "./helpers.ts";

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

/** A socket pair closed after the test, unless the test closes an end itself (`closePeer`). */
function pair(type: "stream" | "datagram" = "stream") {
  const [ours, peer] = socketPair(type);
  let peerOpen = true;
  cleanups.push(() => {
    closeFd(ours);
    if (peerOpen) closeFd(peer);
  });
  return {
    ours,
    peer,
    closePeer() {
      peerOpen = false;
      closeFd(peer);
    },
  };
}

/** The ids of this process's reader threads (other test files' readers may be running too). */
const readerThreads = () =>
  readdirSync("/proc/self/task").filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === "socket-read";
    } catch {
      return false; // the thread ended while we looked
    }
  });

/** Reads `fd` until the test ends; `gone()` says whether the reader's own thread has ended. */
function read(fd: number, on: Partial<SocketReaderHandlers>) {
  const before = new Set(readerThreads());
  const reader = readSocket(fd, { data: () => {}, error: () => false, end: () => {}, ...on });
  cleanups.push(() => reader.stop());
  const started = readerThreads().filter((t) => !before.has(t));
  expect(started.length).toBe(1); // pthread_create has returned: the thread is listed
  const tid = started[0]!;
  return Object.assign(reader, { gone: () => !readerThreads().includes(tid) });
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test("3000 request/reply rounds: every reply is delivered (each waits for the one before)", async () => {
  const { ours, peer } = pair();
  const replies = eventQueue<number>();
  read(ours, { data: (chunk) => replies.push(chunk[0]!) });
  for (let i = 0; i < 3000; i++) {
    writeAll(peer, new Uint8Array([i & 0xff]));
    expect(await replies.next(2000)).toBe(i & 0xff);
  }
}, 30_000);

test("a backlog of 100 datagrams, more than one wake-up reads, is delivered whole and in order", async () => {
  const { ours, peer } = pair("datagram");
  for (let i = 0; i < 100; i++) writeAll(peer, new Uint8Array([i, i, i]));
  const got: number[][] = [];
  read(ours, { data: (chunk) => got.push([...chunk]) });
  await until(() => got.length === 100, "100 datagrams");
  expect(got).toEqual(Array.from({ length: 100 }, (_, i) => [i, i, i]));
});

test("the peer closing is one end(), after the data it sent", async () => {
  const { ours, peer, closePeer } = pair();
  const events = eventQueue<string>();
  const reader = read(ours, { data: (chunk) => events.push(`data ${chunk.length}`), end: () => events.push("end") });
  writeAll(peer, new Uint8Array(10));
  closePeer();
  expect(await events.take(2)).toEqual(["data 10", "end"]);
  await until(reader.gone, "the reader's thread to end");
  expect(events.pending).toEqual([]);
});

test("a handler that throws is an EIO error; answering false stops the reader", async () => {
  const { ours, peer } = pair("datagram");
  const errors = eventQueue<string>();
  let calls = 0;
  const reader = read(ours, {
    data: () => {
      calls++;
      throw new Error("bad message");
    },
    error: (e) => (errors.push(`${e.code}: ${e.message}`), false),
  });
  writeAll(peer, new Uint8Array([1]));
  writeAll(peer, new Uint8Array([2]));
  expect(await errors.next()).toBe("EIO: bad message");
  await until(reader.gone, "the reader's thread to end");
  expect(calls).toBe(1);
  expect(errors.pending).toEqual([]);
});

test("stop(): nothing more is delivered and the thread ends; the fd stays open for its owner", async () => {
  const { ours, peer } = pair();
  const got = eventQueue<number>();
  const reader = read(ours, { data: (chunk) => got.push(chunk.length) });
  writeAll(peer, new Uint8Array(3));
  expect(await got.next()).toBe(3);
  reader.stop();
  await until(reader.gone, "the reader's thread to end");
  writeAll(peer, new Uint8Array(5)); // still connected: the fd was not closed
  const again = eventQueue<number>();
  read(ours, { data: (chunk) => again.push(chunk.length) });
  expect(await again.next()).toBe(5);
  expect(got.pending).toEqual([]);
});
