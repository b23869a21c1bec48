// Debian's xenstore tools (libxenstore) against the in-process server: if they work, the server
// speaks the real protocol, not just our client's dialect. Skipped, with the reason, without
// xenstore-utils.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestXenstored } from "./server/server.ts";

const TOOLS = ["xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-watch", "xenstore-rm", "xenstore-list"];
const missing = TOOLS.filter((t) => !Bun.which(t));
const reason = missing.length > 0 ? `${missing.join(", ")} not installed (apt package xenstore-utils)` : undefined;
if (reason) console.warn(`SKIP xenstore CLI interop: ${reason}`);

async function xs(args: string[], socket: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(args, { env: { ...process.env, XENSTORED_PATH: socket }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe.skipIf(reason !== undefined)(`xenstore CLI tools against the in-process server${reason ? ` [SKIPPED: ${reason}]` : ""}`, () => {
  let srv: TestXenstored;
  let guest: string;
  beforeAll(async () => {
    srv = await TestXenstored.start();
    guest = srv.addGuest(4);
  });
  afterAll(() => srv.stop());

  test("xenstore-write, -read, -list, -rm on the dom0 socket", async () => {
    expect((await xs(["xenstore-write", "/cli/a", "hello", "/cli/b", "world"], srv.dom0SocketPath)).code).toBe(0);
    expect(await xs(["xenstore-read", "/cli/a", "/cli/b"], srv.dom0SocketPath)).toMatchObject({ code: 0, out: "hello\nworld\n" });
    expect((await xs(["xenstore-list", "/cli"], srv.dom0SocketPath)).out.split("\n").filter(Boolean).sort()).toEqual(["a", "b"]);
    expect((await xs(["xenstore-rm", "/cli/a"], srv.dom0SocketPath)).code).toBe(0);
    const r = await xs(["xenstore-read", "/cli/a"], srv.dom0SocketPath);
    expect(r.code).not.toBe(0);
  });

  test("xenstore-ls -p shows values and libxl permissions", async () => {
    const r = await xs(["xenstore-ls", "-p", "/local/domain/4"], srv.dom0SocketPath);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^domid = "4"[ .]*\(n0,r4\)$/m);
    expect(r.out).toMatch(/^data = ""[ .]*\(n4\)$/m);
    expect(r.out).toMatch(/^ +videoram = "-1"/m);
  });

  test("as the guest: relative read, write in data/, denied outside", async () => {
    expect(await xs(["xenstore-read", "domid"], guest)).toMatchObject({ code: 0, out: "4\n" });
    expect((await xs(["xenstore-write", "data/cli", "1"], guest)).code).toBe(0);
    expect(srv.store.lookup("/local/domain/4/data/cli")?.value).toBe("1");
    const denied = await xs(["xenstore-write", "/local/domain/0/x", "1"], guest);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain("could not write path");
  });

  test("xenstore-watch sees the initial event and changes", async () => {
    const p = Bun.spawn(["xenstore-watch", "-n", "3", "/cliw"], {
      env: { ...process.env, XENSTORED_PATH: srv.dom0SocketPath },
      stdout: "pipe",
      stderr: "pipe",
    });
    const lines: string[] = [];
    const reader = p.stdout.getReader();
    const dec = new TextDecoder();
    let buf = "";
    const nextLine = async (): Promise<string> => {
      for (;;) {
        const i = buf.indexOf("\n");
        if (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          return line;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`xenstore-watch ended after ${JSON.stringify(lines)}`);
        buf += dec.decode(value);
      }
    };
    expect(await nextLine()).toBe("/cliw"); // the event fired on registration
    srv.mutate((c) => srv.store.write("/cliw/x/y", "1", 0, c));
    expect(await nextLine()).toBe("/cliw/x/y");
    srv.mutate((c) => srv.store.rm("/cliw", 0, c));
    expect(await nextLine()).toBe("/cliw");
    expect(await p.exited).toBe(0);
  });
});
