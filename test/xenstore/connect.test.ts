// Finding xenstore on a host (under a HostRoot) and connecting to it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
    expect(findXenstore(host, {})).toMatchObject({ kind: "device", path: join(root, "proc/xen/xenbus") });
    touch("dev/xen/xenbus");
    expect(findXenstore(host, {})).toMatchObject({ kind: "device", path: join(root, "dev/xen/xenbus") });
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

describe("the xenbus device under a root (--root /host) is opened inside it, and only as a device", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "xga-devxs-"));
    mkdirSync(join(root, "dev/xen"), { recursive: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const device = join("dev/xen/xenbus");
  const reset = () => rmSync(join(root, device), { force: true });

  test("a regular file there: refused, naming what it is", async () => {
    reset();
    writeFileSync(join(root, device), "");
    const loc = findXenstore(new HostRoot(root), {})!;
    await expect(connectXenstore(loc)).rejects.toThrow("dev/xen/xenbus is a regular file, not a character device; not opened");
  });

  test("a symbolic link to an absolute path: resolved inside the root, not on the host", async () => {
    reset();
    symlinkSync("/dev/null", join(root, device));
    const loc = findXenstore(new HostRoot(root), {});
    // existsSync follows the link to the host's /dev/null; the open does not leave the root.
    expect(loc?.kind).toBe("device");
    await expect(connectXenstore(loc!)).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("xenfs's proc/xen/xenbus is a regular file, and is opened as one", () => {
    reset();
    mkdirSync(join(root, "proc/xen"), { recursive: true });
    writeFileSync(join(root, "proc/xen/xenbus"), "");
    const loc = findXenstore(new HostRoot(root), {})!;
    expect(loc.path).toBe(join(root, "proc/xen/xenbus"));
    closeSync(loc.open!());
    rmSync(join(root, "proc"), { recursive: true });
  });

  test.skipIf(process.getuid?.() !== 0)("a character device: opened read-write", () => {
    reset();
    expect(Bun.spawnSync(["mknod", join(root, device), "c", "1", "3"]).exitCode).toBe(0);
    const fd = new HostRoot(root).openDevice(device, ["character device"]);
    expect(fstatSync(fd).isCharacterDevice()).toBe(true);
    closeSync(fd);
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
