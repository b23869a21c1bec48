// SR-IOV VFs as XAPI lists them: dom0 writes xenserver/device/net-sriov-vf/<id>/mac (readable by
// the guest); the guest finds the VF id of an interface by MAC and hears about changes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log/logger.ts";
import { SRIOV_DEVICE_DIR, SriovDirectory } from "../../../src/collectors/network/sriov.ts";
import type { XenstoreClient } from "../../../src/xenstore/client.ts";
import { connectXenstore } from "../../../src/xenstore/connect.ts";
import { eventQueue } from "../../xenstore/helpers.ts";
import { targets, type RunningTarget } from "../../xenstore/targets.ts";

for (const target of targets) {
  if (target.unavailable) console.log(`skipped: SR-IOV directory on ${target.name}: ${target.unavailable}`);
  describe.skipIf(target.unavailable !== undefined)(`SR-IOV directory on ${target.name}`, () => {
    let xsd: RunningTarget;
    let dom0: XenstoreClient;
    let guest: XenstoreClient;
    let base: string;

    beforeAll(async () => {
      xsd = await target.start();
      dom0 = await connectXenstore({ kind: "socket", path: xsd.dom0SocketPath });
      guest = await connectXenstore({ kind: "socket", path: xsd.guestSocketPath });
      base = `/local/domain/${xsd.domid}`;
    });
    afterAll(async () => {
      guest?.close();
      dom0?.close();
      await xsd?.stop();
    });

    async function listVf(id: number, mac: string): Promise<void> {
      const path = `${base}/${SRIOV_DEVICE_DIR}/${id}/mac`;
      await dom0.write(path, mac);
      for (const p of [`${base}/xenserver`, `${base}/xenserver/device`, `${base}/${SRIOV_DEVICE_DIR}`, `${base}/${SRIOV_DEVICE_DIR}/${id}`, path]) {
        await dom0.setPerms(p, ["n0", `r${xsd.domid}`]);
      }
    }

    test("no listing (a plain xl host): nothing matches, no error", async () => {
      const dir = new SriovDirectory(guest, silentLogger);
      expect(await dir.refresh()).toBe(false);
      expect(dir.vfIdForMac("00:16:3e:aa:bb:cc")).toBeUndefined();
    });

    test("a VF listed by dom0 is found by MAC (any case); a change is heard", async () => {
      const dir = new SriovDirectory(guest, silentLogger);
      const changes = eventQueue<void>();
      const w = await dir.watch(() => changes.push());
      await listVf(3, "00:16:3E:AA:BB:CC");
      await changes.next(5000);
      expect(dir.vfIdForMac("00:16:3e:aa:bb:cc")).toBe(3);
      await dom0.rm(`${base}/${SRIOV_DEVICE_DIR}/3`);
      await changes.next(5000);
      expect(dir.vfIdForMac("00:16:3e:aa:bb:cc")).toBeUndefined();
      await w.unwatch();
    });
  });
}
