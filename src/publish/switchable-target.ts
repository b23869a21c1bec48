// The publish target that outlives connections: it delegates to the current connection's target,
// and while there is none (reconnecting) every request fails the way a lost connection does
// (NotConnectedError, a XenstoreConnectionError), so the publisher stops the batch and the
// lifecycle republishes once connected again. It retries nothing: EAGAIN is the publisher's.
import { XenstoreConnectionError } from "../xenstore/errors.ts";
import type { PublishTarget } from "./publisher.ts";

export class NotConnectedError extends XenstoreConnectionError {
  override name = "NotConnectedError";
}

export class SwitchableTarget implements PublishTarget {
  private current: PublishTarget | undefined;

  constructor(private readonly idleName = "xenstore") {}

  get name(): string {
    return this.current?.name ?? this.idleName;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Points at a new connection's target, or at none (requests fail with NotConnectedError). */
  set(target: PublishTarget | undefined): void {
    this.current = target;
  }

  write(path: string, value: string): Promise<void> {
    return this.with((t) => t.write(path, value));
  }

  rm(path: string): Promise<void> {
    return this.with((t) => t.rm(path));
  }

  private with(op: (t: PublishTarget) => Promise<void>): Promise<void> {
    // One message whatever the key, so the pipeline logs the outage once, not once per key.
    if (!this.current) return Promise.reject(new NotConnectedError("not connected to xenstore (reconnecting)"));
    return op(this.current);
  }
}
