// The host-request channel: the one place that talks to xenstore about requests from dom0. Each
// request type (src/requests/types.ts) only says where its requests are, how to read, carry out and
// answer one; this file does the rest, the same way for every type:
//
//   start()        watch every type's paths, then advertise the served types (control/feature-*)
//   watch event    re-read that type's pending requests in a transaction (never half a request),
//                  check who wrote each (GET_PERMS owner), the policy, the parse; carry it out;
//                  write the outcome in one transaction; log it once
//   republished()  the tree may be new (migration, resume): advertise again, re-read everything
//                  (requests written while the agent was away are handled now)
//   setPolicy()    SIGHUP: advertise what became allowed, withdraw what became denied
//   withdraw()     clean stop: stop watching, let the request in progress finish, remove the
//                  feature keys the agent wrote (dom0 sees the agent is gone)
//
// Idempotence: a request is identified by its slot and content (PendingRequest.signature); one
// seen again (a spurious event, a republish, an answer that did not remove it) is not carried out
// again. A failing request, a failing answer or a bug in a type is logged and never escapes.
import type { Logger } from "../log/logger.ts";
import type { XenstoreOps } from "../xenstore/client.ts";
import { isXenstoreCode } from "../xenstore/errors.ts";
import type { RequestPolicy } from "../config/request-policy.ts";
import type { Outcome, PendingRequest, RequestClient, RequestType } from "./types.ts";

export interface RequestChannelOptions {
  client: RequestClient;
  /** Prefix for paths on a privileged connection (tests: `/local/domain/5`); empty on the guest's own. */
  base?: string;
  types: readonly RequestType[];
  policy: RequestPolicy;
  log: Logger;
}

/** The owner domain of a node from its GET_PERMS answer (`n0`, `b5` → 0, 5). */
export function ownerOf(perms: readonly string[]): number | undefined {
  const m = /^[nrwb](\d+)$/.exec(perms[0] ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Operations whose relative paths are mapped under `base`. */
function scoped(ops: XenstoreOps, at: (p: string) => string): XenstoreOps {
  return {
    read: (p) => ops.read(at(p)),
    write: (p, v) => ops.write(at(p), v),
    mkdir: (p) => ops.mkdir(at(p)),
    rm: (p) => ops.rm(at(p)),
    directory: (p) => ops.directory(at(p)),
  };
}

interface ScanState {
  running: Promise<void> | undefined;
  again: boolean;
}

export class RequestChannel {
  private readonly client: RequestClient;
  private readonly log: Logger;
  private readonly base: string;
  private readonly types: readonly RequestType[];
  private policy: RequestPolicy;
  private domid: number | undefined;
  private readonly unwatchers: (() => Promise<void>)[] = [];
  /** Feature key written, by type name. */
  private readonly advertised = new Map<string, string>();
  /** Signature last carried out, by `type\0slot`. */
  private readonly done = new Map<string, string>();
  private readonly scans = new Map<string, ScanState>();
  private closed = false;
  /** Tests: after every request outcome is written. */
  onOutcome?: (type: string, request: PendingRequest<unknown>, outcome: Outcome) => void;

  constructor(opts: RequestChannelOptions) {
    this.client = opts.client;
    this.log = opts.log;
    this.base = opts.base ?? "";
    this.types = opts.types;
    this.policy = opts.policy;
  }

  private at = (p: string): string => (this.base ? `${this.base}/${p}` : p);

  /** The types, with whether each is served and where it is advertised (`host info`, logs). */
  describe(): { name: string; served: boolean; feature: string | undefined }[] {
    return this.types.map((t) => ({ name: t.name, served: this.policy.allows(t.name), feature: this.advertised.get(t.name) }));
  }

  /**
   * Watches every type's paths (denied types too: their requests get an error answer), then
   * advertises the served ones. Resolves when all are in place; a type whose watch fails is
   * logged and left unadvertised.
   */
  async start(): Promise<void> {
    this.domid = await this.ownDomid();
    for (const type of this.types) {
      try {
        for (const path of type.watch) {
          const w = await this.client.watch(this.at(path), () => this.kick(type));
          if (this.closed) return void (await w.unwatch().catch(() => {}));
          this.unwatchers.push(() => w.unwatch());
        }
      } catch (e) {
        this.log.warn(`${type.name} requests not watched (${(e as Error).message}); not advertised`);
        continue;
      }
      if (this.policy.allows(type.name)) await this.advertise(type);
      else this.log.info(`${type.name} requests are disabled in the configuration ([requests] ${type.name} = false): not advertised, answered with an error`);
    }
    const served = this.types.filter((t) => this.advertised.has(t.name)).map((t) => t.name);
    this.log.debug(`serving host requests: ${served.length ? served.join(", ") : "none"}`);
  }

  /** The domain's tree may have been replaced: advertise again and re-read every request. */
  republished(): void {
    if (this.closed) return;
    for (const type of this.types) {
      if (this.advertised.has(type.name)) void this.advertise(type);
      this.kick(type);
    }
  }

  /** A new policy (SIGHUP): advertise or withdraw each type accordingly, then re-read requests. */
  async setPolicy(policy: RequestPolicy): Promise<void> {
    this.policy = policy;
    if (this.closed) return;
    for (const type of this.types) {
      const key = this.advertised.get(type.name);
      if (policy.allows(type.name) && !key) await this.advertise(type);
      if (!policy.allows(type.name) && key) await this.unadvertise(type.name, key);
      this.kick(type);
    }
  }

  /** Clean stop: no more requests, the one in progress finishes, the feature keys go. Idempotent. */
  async withdraw(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.unwatchers.splice(0).map((u) => u().catch(() => {})));
    await this.idle();
    for (const [name, key] of [...this.advertised]) await this.unadvertise(name, key);
  }

  /** Resolves when no request is being read or carried out (tests, withdraw). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.scans.values()].map((s) => s.running).filter((p) => p !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  // --- internals ---

  private async ownDomid(): Promise<number | undefined> {
    try {
      const text = await this.client.read(this.at("domid"));
      return /^\d+$/.test(text) ? Number(text) : undefined;
    } catch {
      const m = /^\/local\/domain\/(\d+)$/.exec(this.base);
      return m ? Number(m[1]) : undefined;
    }
  }

  private async advertise(type: RequestType): Promise<void> {
    try {
      await this.client.write(this.at(type.feature), "1");
      this.advertised.set(type.name, type.feature);
    } catch (e) {
      if (!isXenstoreCode(e, "EACCES") || !type.featureFallback) {
        this.log.warn(`${type.name}: cannot advertise ${type.feature}: ${(e as Error).message}`);
        return;
      }
      // Plain xl: control/ is read-only to the guest except the nodes libxl made for it.
      try {
        await this.client.write(this.at(type.featureFallback), "1");
        this.advertised.set(type.name, type.featureFallback);
      } catch (e2) {
        this.log.warn(`${type.name}: cannot advertise ${type.feature} nor ${type.featureFallback}: ${(e2 as Error).message}`);
      }
    }
  }

  private async unadvertise(name: string, key: string): Promise<void> {
    this.advertised.delete(name);
    await this.client.rm(this.at(key)).catch((e: Error) => {
      if (!isXenstoreCode(e, "ENOENT")) this.log.debug(`${name}: could not remove ${key}: ${e.message}`);
    });
  }

  /** Re-reads a type's requests; events during a read cause one more read after it. */
  private kick(type: RequestType): void {
    if (this.closed) return;
    let state = this.scans.get(type.name);
    if (!state) this.scans.set(type.name, (state = { running: undefined, again: false }));
    if (state.running) {
      state.again = true;
      return;
    }
    const loop = async (): Promise<void> => {
      do {
        state.again = false;
        await this.scan(type).catch((e: Error) => this.log.warn(`${type.name}: requests not read: ${e.message}`));
      } while (state.again && !this.closed);
      state.running = undefined;
    };
    state.running = loop();
  }

  private async scan(type: RequestType): Promise<void> {
    // Looked at outside a transaction first: almost always there is nothing, and an open
    // transaction anywhere turns on C xenstored's write rate limit for every guest (writes are
    // only debited while one is open), so a fleet of agents scanning in transactions after a
    // migration slowed each other's republish to 200/N writes a second. What is found is read
    // again in one transaction, so a request is never seen half written.
    const seen = await type.pending(scoped(this.client, this.at));
    const found = seen.length === 0 ? seen : await this.client.transaction((tx) => type.pending(scoped(tx, this.at)));
    const slots = new Set(found.map((p) => `${type.name}\0${p.slot}`));
    // A request that is gone may come back with the same content (xenopsd re-writes the static
    // IP setting at every VIF plug): then it is a new request.
    for (const key of [...this.done.keys()]) if (key.startsWith(`${type.name}\0`) && !slots.has(key)) this.done.delete(key);
    for (const request of found) {
      if (this.closed) return;
      const key = `${type.name}\0${request.slot}`;
      if (this.done.get(key) === request.signature) continue;
      const outcome = await this.evaluate(type, request);
      try {
        await this.client.transaction((tx) => type.answer(scoped(tx, this.at), request, outcome));
      } catch (e) {
        this.log.warn(`${type.name} ${request.summary}: outcome not written: ${(e as Error).message}`);
      }
      this.done.set(key, request.signature);
      if (outcome.ok) this.log.info(`${type.name} ${request.summary}: done${outcome.message ? ` (${outcome.message})` : ""}`);
      else this.log.warn(`${type.name} ${request.summary}: failed (${outcome.reason ?? "error"}): ${outcome.message}`);
      this.onOutcome?.(type.name, request, outcome);
    }
  }

  private async evaluate(type: RequestType, request: PendingRequest<unknown>): Promise<Outcome> {
    let owner: number | undefined;
    try {
      owner = ownerOf(await this.client.getPerms(this.at(request.node)));
    } catch (e) {
      return { ok: false, reason: "internal", message: `cannot read the permissions of ${request.node}: ${(e as Error).message}` };
    }
    const trusted = owner === 0 || (type.writers === "dom0-or-guest" && owner !== undefined && owner === this.domid);
    if (!trusted) {
      const who = owner === undefined ? "an unknown domain" : owner === this.domid ? "this guest" : `domain ${owner}`;
      return { ok: false, reason: "forged", message: `request node ${request.node} is owned by ${who}, not dom0: ignored` };
    }
    if (!this.policy.allows(type.name)) {
      return { ok: false, reason: "denied", message: `${type.name} requests are disabled in this guest's configuration ([requests] ${type.name} = false)` };
    }
    if (!request.parsed.ok) return { ok: false, reason: "malformed", message: request.parsed.error };
    try {
      return await type.handle(request.parsed.request);
    } catch (e) {
      return { ok: false, reason: "internal", message: `internal error: ${(e as Error).message}` };
    }
  }
}
