// Request parsing (what dom0 may write), target selection, and the hook runner on real files.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMountLine } from "../../../src/collectors/volumes/mountinfo.ts";
import { DirectoryHooks, listHooks } from "../../../src/requests/fsfreeze/hooks.ts";
import { formatRequest, parseRequest } from "../../../src/requests/fsfreeze/protocol.ts";
import { selectTargets } from "../../../src/requests/fsfreeze/targets.ts";

describe("parseRequest", () => {
  const ok: [string, unknown][] = [
    ['{"id":"a1","op":"freeze"}', { id: "a1", op: "freeze" }],
    ['{"id":"a1","op":"freeze","timeout":5,"mounts":["/data","/","/data"]}', { id: "a1", op: "freeze", timeout: 5, mounts: ["/data", "/"] }],
    ['{"id":"x.y:z-1_2","op":"thaw"}', { id: "x.y:z-1_2", op: "thaw" }],
    ['{"id":"s","op":"status"}', { id: "s", op: "status" }],
  ];
  for (const [text, want] of ok) test(`accepts ${text}`, () => expect(parseRequest(text)).toEqual({ ok: true, request: want as never }));

  const bad: [string, string, string][] = [
    ["freeze", "", "request is not JSON"],
    ["[1]", "", "request is not a JSON object"],
    ['{"op":"freeze"}', "", "id must be"],
    ['{"id":"has space","op":"freeze"}', "", "id must be"],
    ['{"id":"a","op":"melt"}', "a", "op must be one of freeze, thaw, status"],
    ['{"id":"a","op":"freeze","timeout":0}', "a", "timeout must be"],
    ['{"id":"a","op":"freeze","timeout":1.5}', "a", "timeout must be"],
    ['{"id":"a","op":"freeze","mounts":[]}', "a", "mounts must be a list"],
    ['{"id":"a","op":"freeze","mounts":["data"]}', "a", "mounts must be absolute paths"],
    ['{"id":"a","op":"thaw","timeout":3}', "a", "thaw takes no timeout or mounts"],
    ['{"id":"a","op":"freeze","force":true}', "a", "unknown field 'force'"],
  ];
  for (const [text, id, error] of bad) {
    test(`refuses ${text}`, () => {
      const r = parseRequest(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.id).toBe(id);
        expect(r.error).toContain(error);
      }
    });
  }

  test("formatRequest round-trips", () => {
    const req = { id: "q", op: "freeze" as const, timeout: 3, mounts: ["/a b"] };
    expect(parseRequest(formatRequest(req))).toEqual({ ok: true, request: req });
  });
});

describe("selectTargets", () => {
  const m = (id: number, dev: string, mp: string, opts = "rw") => parseMountLine(`${id} 1 ${dev} / ${mp} ${opts} - ext4 /dev/x rw`)!;
  const table = [m(1, "8:1", "/"), m(2, "8:2", "/srv"), m(3, "8:2", "/mnt/again"), m(4, "8:3", "/ro", "ro,relatime"), m(5, "0:40", "/tmp")];
  const vol = (mountPoints: string[]) => ({ device: "d", path: "/dev/d", uuid: "", filesystem: "ext4", sizeBytes: 1, fsSizeBytes: 1, freeBytes: 1, mountPoints, disks: [] });

  test("default: the reported volumes, read-only left out, the root last", () => {
    expect(selectTargets(undefined, table, { volumes: [vol(["/"]), vol(["/srv", "/mnt/again"]), vol(["/ro"])] })).toEqual({
      ok: true,
      targets: [{ mountPoint: "/srv", device: "8:2", fsType: "ext4" }, { mountPoint: "/", device: "8:1", fsType: "ext4" }],
      skipped: ["/ro: read-only"],
    });
  });

  test("given mounts: each must be a mount point; the same filesystem twice is frozen once", () => {
    expect(selectTargets(["/", "/srv", "/mnt/again", "/tmp"], table, { volumes: [] })).toMatchObject({
      ok: true,
      targets: [{ mountPoint: "/srv" }, { mountPoint: "/tmp" }, { mountPoint: "/" }],
      skipped: ["/mnt/again: same filesystem as /srv"],
    });
    expect(selectTargets(["/srv/sub"], table, { volumes: [] })).toEqual({ ok: false, error: "/srv/sub: not a mount point" });
  });

  test("no volume at all is an error", () => {
    expect(selectTargets(undefined, table, { volumes: [] })).toEqual({ ok: false, error: "no local block filesystem to freeze" });
  });
});

describe("hooks on real files", () => {
  const dir = mkdtempSync(join(tmpdir(), "xga-hooks-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const root = process.getuid?.() === 0;
  const hookDir = (name: string, hooks: Record<string, string>): string => {
    const d = join(dir, name);
    mkdirSync(d, { mode: 0o755 });
    chmodSync(d, 0o755);
    for (const [n, body] of Object.entries(hooks)) writeFileSync(join(d, n), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return d;
  };

  test.skipIf(!root)("run by name with the phase; thaw in reverse; leftovers ignored", async () => {
    const log = join(dir, "order.log");
    const d = hookDir("ok", { "20-b": `echo b $1 >> ${log}`, "10-a": `echo a $1 >> ${log}`, "10-a.dpkg-old": "exit 1", ".hidden": "exit 1" });
    const hooks = new DirectoryHooks({ dir: d, timeoutMs: 5000 });
    expect(await hooks.run("freeze")).toEqual({ succeeded: ["10-a", "20-b"], failures: [] });
    expect(await hooks.run("thaw", ["10-a", "20-b"])).toEqual({ succeeded: ["20-b", "10-a"], failures: [] });
    expect(await Bun.file(log).text()).toBe("a freeze\nb freeze\nb thaw\na thaw\n");
  });

  test.skipIf(!root)("a failing freeze hook stops the others and says why", async () => {
    const d = hookDir("fail", { "10-a": "exit 0", "20-b": "echo noise; echo 'mysql: cannot lock tables' >&2; exit 3", "30-c": "exit 0" });
    expect(await new DirectoryHooks({ dir: d, timeoutMs: 5000 }).run("freeze")).toEqual({
      succeeded: ["10-a"],
      failures: [{ hook: "20-b", message: "exit status 3: mysql: cannot lock tables" }],
    });
  });

  test.skipIf(!root)("a hook over its time limit is killed, even when its child keeps the pipe open", async () => {
    const d = hookDir("slow", { "10-slow": "sleep 30 & sleep 30" });
    const started = performance.now();
    const run = await new DirectoryHooks({ dir: d, timeoutMs: 300 }).run("freeze");
    expect(run.failures[0]?.message).toBe("killed after the 0.3 s time limit");
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test.skipIf(!root)("untrusted hooks and directories are refused", () => {
    const d = hookDir("untrusted", { "10-a": "exit 0" });
    chmodSync(join(d, "10-a"), 0o775);
    expect(listHooks(d)).toEqual({ ok: false, error: `hook ${join(d, "10-a")} is writable by group or others (mode 775)` });
    chmodSync(join(d, "10-a"), 0o755);
    chownSync(join(d, "10-a"), 1000, 0);
    expect(listHooks(d)).toEqual({ ok: false, error: `hook ${join(d, "10-a")} is owned by uid 1000, not root` });
    chownSync(join(d, "10-a"), 0, 0);
    chmodSync(d, 0o777);
    expect(listHooks(d)).toMatchObject({ ok: false, error: expect.stringContaining("is writable by group or others (mode 777)") });
    chmodSync(d, 0o755);
    chmodSync(join(d, "10-a"), 0o644);
    expect(listHooks(d)).toEqual({ ok: false, error: `hook ${join(d, "10-a")} is not executable` });
    expect(listHooks(join(dir, "missing"))).toEqual({ ok: true, hooks: [] });
  });

  test.skipIf(root)("hook ownership checks need root (skipped: not root)", () => {
    console.log("skipped: hook tests chown files to root and other users; run as root");
  });
});
