// transaction(fn): start, run the body with ops bound to the transaction id, commit; on EAGAIN
// run the whole body again. xenstored answers EAGAIN to a commit when something the transaction
// touched changed meanwhile (docs/misc/xenstore.txt "TRANSACTION_END"), and the client is
// expected to retry from the start; reads inside the old transaction are stale.
import type { Logger } from "../log/logger.ts";
import type { XenstoreOps } from "./client.ts";
import { backoffDelay, TRANSACTION_BACKOFF } from "../events/backoff.ts";
import { XenstoreError } from "./errors.ts";

export interface TransactionOptions {
  /** Total runs of the body before the EAGAIN is given up and rethrown. Default 8. */
  maxAttempts?: number;
  /** First backoff delay (TRANSACTION_BACKOFF: 5 ms, doubled per attempt, capped at 1 s, ±50 % jitter). */
  backoffMs?: number;
}

export interface TransactionDriver {
  start(): Promise<number>;
  end(txId: number, commit: boolean): Promise<void>;
  ops(txId: number): XenstoreOps;
  log: Logger;
}

export const DEFAULT_MAX_ATTEMPTS = 8;

export async function runTransaction<T>(
  driver: TransactionDriver,
  body: (tx: XenstoreOps) => Promise<T>,
  opts: TransactionOptions = {},
): Promise<T> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const policy = { ...TRANSACTION_BACKOFF, initialMs: opts.backoffMs ?? TRANSACTION_BACKOFF.initialMs };
  for (let attempt = 1; ; attempt++) {
    const txId = await driver.start();
    let result: T;
    try {
      result = await body(driver.ops(txId));
    } catch (e) {
      await abort(driver, txId);
      if (!isEagain(e) || attempt >= maxAttempts) throw e;
      await Bun.sleep(backoffDelay(policy, attempt));
      continue;
    }
    try {
      await driver.end(txId, true);
      return result;
    } catch (e) {
      if (!isEagain(e) || attempt >= maxAttempts) throw e;
      driver.log.debug(`transaction conflict, retrying (attempt ${attempt + 1}/${maxAttempts})`);
      await Bun.sleep(backoffDelay(policy, attempt));
    }
  }
}

function isEagain(e: unknown): boolean {
  return e instanceof XenstoreError && e.code === "EAGAIN";
}

/** Ends the transaction without committing; a failure here changes nothing for the caller. */
async function abort(driver: TransactionDriver, txId: number): Promise<void> {
  try {
    await driver.end(txId, false);
  } catch (e) {
    driver.log.debug(`aborting transaction ${txId}: ${(e as Error).message}`);
  }
}

