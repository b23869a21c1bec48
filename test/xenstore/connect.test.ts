// Finding xenstore on a host (under a HostRoot) and connecting to it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostRoot } from "../../src/collectors/host-root.ts";
import { connectXenstore, findXenstore } from "../../src/xenstore/connect.ts";
import { TestXenstored } from "./server/server.ts";

describe("findXenstore", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "xga-findxs-"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const touch = (rel: string): void => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), "");
  };

  test("nothing there: undefined (not a Xen host)", () => {
    expect(findXenstore(new HostRoot(root), {})).toBeUndefined();
  });

  test("order: /proc/xen/xenbus < /dev/xen/xenbus < /var/run socket < /run socket, all under the root", () => {
    const host = new HostRoot(root);
    touch("proc/xen/xenbus");
    expect(findXenstore(host, {})).toEqual({ kind: "device", path: join(root, "proc/xen/xenbus") });
    touch("dev/xen/xenbus");
    expect(findXenstore(host, {})).toEqual({ kind: "device", path: join(root, "dev/xen/xenbus") });
    touch("var/run/xenstored/socket");
    expect(findXenstore(host, {})).toEqual({ kind: "socket", path: join(root, "var/run/xenstored/socket") });
    touch("run/xenstored/socket");
    expect(findXenstore(host, {})).toEqual({ kind: "socket", path: join(root, "run/xenstored/socket") });
  });

  test("XENSTORED_PATH wins and is used as given (not under the root)", () => {
    const host = new HostRoot(root);
    expect(findXenstore(host, { XENSTORED_PATH: "/tmp/xs/socket" })).toEqual({ kind: "socket", path: "/tmp/xs/socket" });
    expect(findXenstore(host, { XENSTORED_PATH: "/dev/xen/xenbus" })).toEqual({ kind: "device", path: "/dev/xen/xenbus" });
  });
});

describe("connectXenstore", () => {
  test("a socket location gives a working client named after it", async () => {
    const srv = await TestXenstored.start();
    try {
      const c = await connectXenstore({ kind: "socket", path: srv.dom0SocketPath });
      expect(c.transport).toBe(`socket:${srv.dom0SocketPath}`);
      expect(await c.getDomainPath(0)).toBe("/local/domain/0");
      c.close();
    } finally {
      await srv.stop();
    }
  });

  test("a missing socket or device rejects with the errno", async () => {
    await expect(connectXenstore({ kind: "socket", path: "/nonexistent/socket" })).rejects.toMatchObject({ code: "ENOENT" });
    await expect(connectXenstore({ kind: "device", path: "/nonexistent/xenbus" })).rejects.toMatchObject({ code: "ENOENT" });
  });
});
