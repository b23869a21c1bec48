// ONE suite, run against every target (and with the guest on either transport): the in-process server must answer like the real daemons
// (where C xenstored and oxenstored differ, `flavor` says which answer is expected, and the
// in-process server reproduces both). Each test uses its own nodes; the suite shares one dom0
// and one guest connection per target because xsshim-guest, like one open of /dev/xen/xenbus,
// serves a single client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connectUnixSocket } from "../../native/unix-socket.ts";
import { XenstoreClient } from "../../src/xenstore/client.ts";
import { DeviceTransport } from "../../src/xenstore/device-transport.ts";
import { XenstoreError, XenstoreProtocolError } from "../../src/xenstore/errors.ts";
import { FLAVOR_CODES } from "./server/store.ts";
import { eventQueue, socketClient } from "./helpers.ts";
import { targets, type RunningTarget } from "./targets.ts";

/** `xsshim-mkdomain.sh 7 guest7` on the real C xenstored, dumped with the test's own client. */
const DOMAIN_7_SKELETON = [
  "/local/domain/7 = \"\" (n0,r7)",
  "/local/domain/7/attr = \"\" (n7)",
  "/local/domain/7/control = \"\" (n0,r7)",
  "/local/domain/7/control/feature-poweroff = \"\" (n7)",
  "/local/domain/7/control/feature-reboot = \"\" (n7)",
  "/local/domain/7/control/feature-suspend = \"\" (n7)",
  "/local/domain/7/control/platform-feature-multiprocessor-suspend = \"1\" (n0,r7)",
  "/local/domain/7/control/platform-feature-xs_reset_watches = \"1\" (n0,r7)",
  "/local/domain/7/control/shutdown = \"\" (n7)",
  "/local/domain/7/control/sysrq = \"\" (n7)",
  "/local/domain/7/cpu = \"\" (n0,r7)",
  "/local/domain/7/data = \"\" (n7)",
  "/local/domain/7/device = \"\" (n0,r7)",
  "/local/domain/7/device/suspend = \"\" (n0,r7)",
  "/local/domain/7/device/suspend/event-channel = \"\" (n7)",
  "/local/domain/7/domid = \"7\" (n0,r7)",
  "/local/domain/7/drivers = \"\" (n7)",
  "/local/domain/7/error = \"\" (n7)",
  "/local/domain/7/feature = \"\" (n7)",
  "/local/domain/7/memory = \"\" (n0)",
  "/local/domain/7/memory/static-max = \"262144\" (n0)",
  "/local/domain/7/memory/target = \"262144\" (n0)",
  "/local/domain/7/memory/videoram = \"-1\" (n0)",
  "/local/domain/7/name = \"guest7\" (n0,r7)",
  "/local/domain/7/vm = \"/vm/00000000-0000-0000-0000-000000000007\" (n0,r7)",
  "/vm = \"\" (n0)",
  "/vm/00000000-0000-0000-0000-000000000007 = \"\" (n0,r7)",
  "/vm/00000000-0000-0000-0000-000000000007/name = \"guest7\" (n0,r7)",
  "/vm/00000000-0000-0000-0000-000000000007/uuid = \"00000000-0000-0000-0000-000000000007\" (n0,r7)",
];

async function dumpTree(c: XenstoreClient, path: string, out: string[] = []): Promise<string[]> {
  out.push(`${path} = ${JSON.stringify(await c.read(path))} (${(await c.getPerms(path)).join(",")})`);
  for (const k of (await c.directory(path)).sort()) await dumpTree(c, `${path}/${k}`, out);
  return out;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XenstoreError) return e.code;
    throw e;
  }
  return "OK";
}

/** How the guest connects: the socket transport, or the xenbus device transport's Worker reading the same socket. */
const GUEST_VIA = {
  socket: (path: string): XenstoreClient => socketClient(path, { timeoutMs: 5000 }),
  worker: (path: string): XenstoreClient =>
    new XenstoreClient(new DeviceTransport("/dev/xen/xenbus", connectUnixSocket(path)), { timeoutMs: 5000 }),
};

for (const target of targets) for (const via of ["socket", "worker"] as const) {
  if (target.unavailable && via === "socket") console.warn(`SKIP conformance on ${target.name}: ${target.unavailable}`);
  const title = `${target.name}, guest via ${via}${target.unavailable ? ` [SKIPPED: ${target.unavailable}]` : ""}`;

  describe.skipIf(target.unavailable !== undefined)(`conformance: ${title}`, () => {
    let t: RunningTarget;
    let d0: XenstoreClient;
    let g: XenstoreClient;
    let home: string;
    const codes = FLAVOR_CODES[target.flavor];

    beforeAll(async () => {
      t = await target.start();
      d0 = socketClient(t.dom0SocketPath, { timeoutMs: 5000 });
      g = GUEST_VIA[via](t.guestSocketPath);
      home = `/local/domain/${t.domid}`;
    });
    afterAll(async () => {
      g?.close();
      d0?.close();
      await t?.stop();
    });

    test("the domain's tree and permissions are what xl create (xsshim-mkdomain.sh) makes", async () => {
      const tree = [...(await dumpTree(d0, home)), ...(await dumpTree(d0, "/vm"))];
      expect(tree).toEqual(DOMAIN_7_SKELETON);
    });

    test("watch events: the written path only (not implied parents), perms changes, no-ops stay silent", async () => {
      const events = eventQueue<string>();
      const w = await d0.watch("/conf/ev", (p) => events.push(p));
      expect(await events.next()).toBe("/conf/ev");
      await d0.write("/conf/ev/a/b", "1");
      await d0.setPerms("/conf/ev/a/b", ["n0", "r1"]);
      await d0.mkdir("/conf/ev/a/b"); // exists: no event
      await d0.mkdir("/conf/ev/m");
      await d0.write("/conf/ev/a/b", "1"); // same value: still an event
      await d0.rm("/conf/ev/a");
      await d0.rm("/conf/ev/missing"); // nothing removed: no event
      await d0.read("/conf/ev/m");
      expect(await events.take(5)).toEqual(["/conf/ev/a/b", "/conf/ev/a/b", "/conf/ev/m", "/conf/ev/a/b", "/conf/ev/a"]);
      await d0.read("/conf/ev/m");
      expect(events.pending).toEqual([]);
      await w.unwatch();
    });

    test("guest: relative reads, domain path, writes in data/", async () => {
      expect(await g.read("domid")).toBe(String(t.domid));
      expect(await g.read("name")).toBe(`guest${t.domid}`);
      expect(await g.getDomainPath(t.domid)).toBe(home);
      await g.write("data/basic", "1");
      expect(await d0.read(`${home}/data/basic`)).toBe("1");
      expect(await g.read(`${home}/data/basic`)).toBe("1");
      expect(await g.getPerms("data/basic")).toEqual([`n${t.domid}`]);
      await d0.write(`${home}/data/by-dom0`, "x");
      expect(await g.getPerms("data/by-dom0")).toEqual([`n${t.domid}`]); // inherited from data
    });

    test("guest: libxl permissions are enforced", async () => {
      expect(await code(g.write("/local/domain/0/x", "1"))).toBe("EACCES");
      expect(await code(g.write("control/foo", "1"))).toBe("EACCES");
      expect(await code(g.write("name", "evil"))).toBe("EACCES");
      expect(await code(g.mkdir("control"))).toBe("EACCES");
      expect(await code(g.mkdir("data"))).toBe("OK");
      expect(await code(g.directory("/"))).toBe("EACCES");
      expect(await code(g.read("/local/domain/0/nonexistent"))).toBe(codes.unreadableMissing);
      expect(await code(g.read("nonexistent"))).toBe("ENOENT");
      expect(await g.getPerms("control")).toEqual(["n0", `r${t.domid}`]);
      expect(await code(g.write("control/shutdown", ""))).toBe("OK"); // rw for the guest
    });

    test("rm: recursive, OK when missing, ENOENT when the parent is missing", async () => {
      await g.write("data/rm/a/b", "1");
      await g.rm("data/rm/a");
      expect(await code(g.read("data/rm/a/b"))).toBe("ENOENT");
      expect(await code(g.rm("data/rm/missing"))).toBe("OK");
      expect(await code(g.rm("data/rm/missing/deeper"))).toBe("ENOENT");
    });

    test("setPerms: a guest may grant access, not give its node away", async () => {
      await g.write("data/perm", "1");
      await g.setPerms("data/perm", [`n${t.domid}`, "r0"]);
      expect(await g.getPerms("data/perm")).toEqual([`n${t.domid}`, "r0"]);
      expect(await code(g.setPerms("data/perm", ["n0"]))).toBe(codes.ownerChange);
    });

    test("values: a guest's 3000-byte value is refused; dom0's only by oxenstored", async () => {
      expect(await code(g.write("data/big-value", "v".repeat(3000)))).toBe(codes.valueTooBig);
      expect(await code(d0.write("/conf/big-value", "v".repeat(3000)))).toBe(target.flavor === "c" ? "OK" : "E2BIG");
      expect(await code(d0.write("/conf/ok-value", "v".repeat(2000)))).toBe("OK");
      expect((await d0.read("/conf/ok-value")).length).toBe(2000);
    });

    test("watches: initial event, relative event paths, removal of an ancestor, unwatch", async () => {
      await g.write("data/watch/sub", "");
      const events = eventQueue<string>();
      const w = await g.watch("data/watch/sub", (p) => events.push(p));
      expect(await events.next()).toBe("data/watch/sub");
      await g.write("data/watch/sub/a", "1");
      expect(await events.next()).toBe("data/watch/sub/a");
      await d0.write(`${home}/data/watch/sub/b`, "1");
      expect(await events.next()).toBe("data/watch/sub/b");
      await d0.rm(`${home}/data/watch`);
      expect(await events.next()).toBe("data/watch/sub");
      await w.unwatch();
      await g.write("data/watch/sub/c", "1");
      await g.read("domid");
      expect(events.pending).toEqual([]);
    });

    test("watches: special @introduceDomain / @releaseDomain names fire on registration", async () => {
      const events = eventQueue<string>();
      const a = await d0.watch("@introduceDomain", (p) => events.push(p));
      const b = await d0.watch("@releaseDomain", (p) => events.push(p));
      expect((await events.take(2)).sort()).toEqual(["@introduceDomain", "@releaseDomain"]);
      await a.unwatch();
      await b.unwatch();
    });

    test("watches: absolute watch by dom0 on a guest's node", async () => {
      const events = eventQueue<string>();
      const w = await d0.watch(`${home}/data/absw`, (p) => events.push(p));
      expect(await events.next()).toBe(`${home}/data/absw`);
      await g.write("data/absw", "1");
      expect(await events.next()).toBe(`${home}/data/absw`);
      await w.unwatch();
    });

    test("transactions: commit; a conflicting change gives EAGAIN; retry succeeds", async () => {
      await g.write("data/tx/n", "1");
      await g.transaction(async (tx) => {
        await tx.write("data/tx/m", "2");
      });
      expect(await g.read("data/tx/m")).toBe("2");

      const conflict = g.transaction(
        async (tx) => {
          const n = await tx.read("data/tx/n");
          await d0.write(`${home}/data/tx/n`, `${n}0`);
          await tx.write("data/tx/n", `${n}1`);
        },
        { maxAttempts: 1 },
      );
      expect(await code(conflict)).toBe("EAGAIN");

      let runs = 0;
      await g.transaction(
        async (tx) => {
          runs++;
          const n = await tx.read("data/tx/n");
          if (runs === 1) await d0.write(`${home}/data/tx/n`, "100");
          await tx.write("data/tx/n", String(Number(n) + 1));
        },
        { backoffMs: 1 },
      );
      expect(runs).toBe(2);
      expect(await g.read("data/tx/n")).toBe("101");
    });

    test("quota: a guest's node count is capped with the daemon's error", async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 1100 }, (_, i) => g.write(`data/quota/d${Math.floor(i / 40)}/n${i % 40}`, "")),
      );
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      const ok = results.length - failed.length;
      expect(new Set(failed.map((f) => (f.reason as XenstoreError).code))).toEqual(new Set([codes.quota]));
      expect(ok).toBeGreaterThan(850);
      expect(ok).toBeLessThan(1000);
      await g.rm("data/quota");
      await g.write("data/after-quota", "1");
    });

    test("guest: a long listing (C: the parent's record is capped first; oxenstored: E2BIG, no DIRECTORY_PART)", async () => {
      const names = Array.from({ length: 160 }, (_, i) => `child-with-a-long-name-${String(i).padStart(4, "0")}`);
      const results = await Promise.allSettled(names.map((n) => g.write(`data/list/${n}`, "")));
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (target.flavor === "c") {
        expect(results.length - refused.length).toBe(71); // 24 + 8 + 71 × 28 < 2048 ≤ … + 28
        expect(new Set(refused.map((r) => (r.reason as XenstoreError).code))).toEqual(new Set(["ENOSPC"]));
        expect((await g.directory("data/list")).length).toBe(71);
      } else {
        expect(refused).toEqual([]);
        expect(await code(g.directory("data/list"))).toBe("E2BIG");
      }
      await g.rm("data/list");
    });

    test("dom0: relative paths resolve under /local/domain/0", async () => {
      await d0.write("conf-rel", "1");
      expect(await d0.read("/local/domain/0/conf-rel")).toBe("1");
    });

    test("dom0: a listing over 4096 bytes (C: E2BIG then DIRECTORY_PART; oxenstored: an oversized reply)", async () => {
      const names = Array.from({ length: 300 }, (_, i) => `child-with-a-long-name-${String(i).padStart(4, "0")}`);
      await Promise.all(names.map((n) => d0.write(`/conf/bigdir/${n}`, "")));
      if (target.flavor === "c") {
        expect((await d0.directory("/conf/bigdir")).sort()).toEqual(names);
      } else {
        // oxenstored does not cap replies on its socket (8400 bytes here) and has no
        // DIRECTORY_PART; the client refuses what xs_wire.h forbids rather than trust it.
        await expect(d0.directory("/conf/bigdir")).rejects.toBeInstanceOf(XenstoreProtocolError);
      }
      expect(await d0.read("/conf/bigdir/child-with-a-long-name-0000")).toBe("");
    });
  });
}
