// What the agent sets up on each xenstore link, and drops with it: the watches it needs (resume
// triggers, the SR-IOV listing, changes by others to the agent's keys), each registered until it
// succeeds, and the target the pipeline writes through (counted, so the agent's own writes are
// not taken for someone else's).
import { SriovDirectory } from "../collectors/network/sriov.ts";
import type { Logger } from "../log/logger.ts";
import { ForeignChangeWatch } from "../publish/foreign-changes.ts";
import type { PublishTarget } from "../publish/publisher.ts";
import { LinkWatches } from "./link-watches.ts";
import type { Link } from "./links.ts";
import { registerWatchTriggers, type TriggerReason } from "./triggers.ts";

export interface LinkSessionOptions {
  log: Logger;
  /** Roots watched for changes by others (every schema's). */
  watchedRoots: readonly string[];
  /** Owned keys no watch covers (every schema's memory tick key). */
  unwatchedKeys: readonly string[];
  /** The current pipeline's mirror. */
  written(): ReadonlyMap<string, string>;
  /** `path` was changed or removed by someone else. */
  changedByOthers(path: string): void;
  /** A republish is asked for or settling (changes by others need no check then). */
  republishPending(): boolean;
  /** Moves each time a republish starts reading the tree back. */
  republishEpoch(): number;
  /** A migration/resume trigger fired on this link. */
  trigger(reason: TriggerReason): void;
  /** The resume watches are in place (their registration events are behind). */
  watching(): void;
  /** The watches on the agent's keys are in place (changes by others are noticed from now on). */
  watchingKeys?(): void;
  /** The SR-IOV listing changed: interfaces are classified again. */
  sriovChanged(): void;
}

export class LinkSession {
  /** Where the pipeline writes on this link. */
  readonly target: PublishTarget;
  private readonly watches: LinkWatches;
  private readonly sriov: SriovDirectory | undefined;

  constructor(link: Link, opts: LinkSessionOptions) {
    this.watches = new LinkWatches(opts.log.withTag("lifecycle"));
    const client = link.client;
    if (!client) {
      this.target = link.target; // the console: nothing to watch
      return;
    }
    const base = link.base ?? "";
    const foreign = new ForeignChangeWatch({
      client,
      base,
      roots: opts.watchedRoots,
      unwatched: opts.unwatchedKeys,
      republishPending: opts.republishPending,
      republishEpoch: opts.republishEpoch,
      written: opts.written,
      changed: opts.changedByOthers,
      log: opts.log.withTag("publisher"),
    });
    this.target = foreign.wrap(link.target);
    this.watches.add({
      name: "resume watches",
      register: () => registerWatchTriggers(client, opts.trigger, opts.log.withTag("lifecycle"), base),
    }, opts.watching);
    this.watches.add({ name: "watches on the agent's keys", register: async () => (await foreign.start(), foreign) }, opts.watchingKeys);
    const sriov = new SriovDirectory(client, opts.log.withTag("sriov"));
    this.sriov = sriov;
    this.watches.add({
      name: "SR-IOV listing watch",
      register: async () => {
        if (await sriov.refresh()) opts.sriovChanged();
        const w = await sriov.watch(opts.sriovChanged);
        return { close: () => w.unwatch() };
      },
    });
  }

  /** SR-IOV VF id of a MAC, from the toolstack's listing on this link (XAPI hosts). */
  vfIdForMac(mac: string): number | undefined {
    return this.sriov?.vfIdForMac(mac);
  }

  close(): Promise<void> {
    return this.watches.close();
  }
}
