// The publish target that outlives connections: it delegates to the current connection's target,
// and while there is none (reconnecting) every request fails the way a lost connection does
// (an error without a xenstore `code`), so the publisher stops the batch and the supervisor
// republishes once connected again.
import type { PublishTarget } from "../publish/publisher.ts";

export class NotConnectedError extends Error {
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
    const t = this.current;
    return t ? t.write(path, value) : Promise.reject(new NotConnectedError(`not connected (write ${path})`));
  }

  rm(path: string): Promise<void> {
    const t = this.current;
    return t ? t.rm(path) : Promise.reject(new NotConnectedError(`not connected (rm ${path})`));
  }
}
