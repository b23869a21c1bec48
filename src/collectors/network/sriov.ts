// SR-IOV virtual functions: XAPI lists them under `xenserver/device/net-sriov-vf/<id>/mac`; an
// interface whose MAC is there is VF `<id>` and is published under xenserver/attr/net-sriov-vf.
// The listing is read once and again whenever it changes (a watch), so the network collector can
// ask synchronously.
import type { Logger } from "../../log/logger.ts";
import type { WatchingClient } from "../../xenstore/client.ts";
import { XenstoreError } from "../../xenstore/errors.ts";

export const SRIOV_DEVICE_DIR = "xenserver/device/net-sriov-vf";

export class SriovDirectory {
  private byMac = new Map<string, number>();

  constructor(
    private readonly client: WatchingClient,
    private readonly log: Logger,
  ) {}

  vfIdForMac(mac: string): number | undefined {
    return this.byMac.get(mac.toLowerCase());
  }

  /** Re-reads the listing; true when it changed. A missing directory (non-XAPI host) is empty. */
  async refresh(): Promise<boolean> {
    const next = new Map<string, number>();
    const ids = await this.client.directory(SRIOV_DEVICE_DIR).catch((e: Error) => {
      if (!(e instanceof XenstoreError)) throw e; // the link itself: the caller reconnects
      if (e.code !== "ENOENT") this.log.debug(`cannot list ${SRIOV_DEVICE_DIR}: ${e.message}`);
      return [] as string[];
    });
    for (const id of ids) {
      if (!/^\d+$/.test(id)) continue;
      const mac = await this.client.read(`${SRIOV_DEVICE_DIR}/${id}/mac`).catch(() => undefined);
      if (mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac.trim())) next.set(mac.trim().toLowerCase(), Number(id));
    }
    const changed = next.size !== this.byMac.size || [...next].some(([m, id]) => this.byMac.get(m) !== id);
    this.byMac = next;
    return changed;
  }

  /** Watches the listing; `onChange` runs after a refresh that changed something. */
  async watch(onChange: () => void): Promise<{ unwatch(): Promise<void> }> {
    return this.client.watch(SRIOV_DEVICE_DIR, () => {
      this.refresh().then((changed) => changed && onChange(), (e: Error) => this.log.warn(`SR-IOV listing: ${e.message}`));
    });
  }
}
