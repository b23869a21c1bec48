// Test helpers: an awaitable queue of events (no sleeps: tests wait for what they expect, with a
// deadline), and clients over the in-process server.
import { SocketTransport } from "../../src/xenstore/socket-transport.ts";
import { XenstoreClient, type XenstoreClientOptions } from "../../src/xenstore/client.ts";

export interface EventQueue<T> {
  push(item: T): void;
  /** The next item, or a rejection after `timeoutMs`. */
  next(timeoutMs?: number): Promise<T>;
  /** The next `n` items. */
  take(n: number, timeoutMs?: number): Promise<T[]>;
  /** Items received and not taken yet. */
  readonly pending: T[];
}

export function eventQueue<T>(): EventQueue<T> {
  const items: T[] = [];
  const waiters: Array<(item: T) => void> = [];
  const q: EventQueue<T> = {
    push(item) {
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    next(timeoutMs = 2000) {
      if (items.length > 0) return Promise.resolve(items.shift()!);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no event within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (item: T): void => {
          clearTimeout(timer);
          resolve(item);
        };
        waiters.push(waiter);
      });
    },
    async take(n, timeoutMs = 2000) {
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(await q.next(timeoutMs));
      return out;
    },
    get pending() {
      return items;
    },
  };
  return q;
}

export function socketClient(path: string, opts?: XenstoreClientOptions): XenstoreClient {
  return new XenstoreClient(new SocketTransport(path), opts);
}
