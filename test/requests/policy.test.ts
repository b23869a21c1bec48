// The default-deny policy and its [requests] table in the configuration file.
import { describe, expect, test } from "bun:test";
import { checkPolicyTable, REQUEST_POLICY, resolvePolicy } from "../../src/config/request-policy.ts";
import { parseConfigText, requestPolicy } from "../../src/config/file.ts";
import { renderToml } from "../../src/cli/config.ts";
import { resolveConfig } from "../../src/config/options.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { RequestsHook } from "../../src/requests/hook.ts";

describe("policy", () => {
  test("defaults: static-ip and the read-only queries on, fsfreeze off; unknown types denied", () => {
    const p = resolvePolicy(undefined);
    expect(REQUEST_POLICY.map((e) => [e.key, p.allows(e.key)])).toEqual([["static-ip", true], ["ping", true], ["info", true], ["fsfreeze", false]]);
    expect(p.allows("fsfreeze")).toBe(false);
    expect(p.allows("anything")).toBe(false);
  });
  test("the file turns entries off and says so", () => {
    const p = resolvePolicy({ "static-ip": false });
    expect(p.allows("static-ip")).toBe(false);
    expect(p.entries()[0]).toMatchObject({ key: "static-ip", allowed: false, origin: "file" });
    expect(p.entries()[1]).toMatchObject({ key: "ping", allowed: true, origin: "default" });
  });
  test.each([
    [{ "static-ip": "yes" }, "must be true or false"],
    [{ "static-ipp": true }, "unknown request type 'static-ipp'"],
    [[true], "must be a table"],
  ])("bad table %j", (table, text) => {
    const r = checkPolicyTable(table);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(text);
  });
  test("[requests] in a file: parsed, errors name the line", () => {
    const values = parseConfigText('loglevel = "debug"\n[requests]\nstatic-ip = false\n', "/x.toml");
    expect(requestPolicy({ file: { path: "/x.toml", explicit: true, found: true, values } }).allows("static-ip")).toBe(false);
    expect(() => parseConfigText("[requests]\nping = 1\n", "/x.toml")).toThrow("/x.toml line 2: [requests] ping must be true or false");
  });
  test("config shows each entry and where it came from", () => {
    const values = parseConfigText("[requests]\nstatic-ip = false\n", "/x.toml");
    const text = renderToml({ ...resolveConfig({ env: {} }), file: { path: "/x.toml", explicit: true, found: true, values } });
    expect(text).toMatch(/\[requests\]\nstatic-ip = false +# file \/x\.toml\nping +?= true +# default/);
  });
});

describe("SIGHUP", () => {
  test("the hook hands each reloaded policy to the process (fsfreeze thaws when it is turned off)", () => {
    const seen: boolean[] = [];
    const hook = new RequestsHook({ log: silentLogger, onPolicy: (p) => seen.push(p.allows("fsfreeze")) });
    const loaded = (fsfreeze: boolean) => ({ ...resolveConfig({}), file: { path: "(test)", explicit: false, found: true, values: { requests: { fsfreeze } } } });
    hook.reloaded(loaded(true));
    hook.reloaded(loaded(false));
    expect(seen).toEqual([true, false]);
  });
});
