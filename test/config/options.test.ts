import { describe, expect, test } from "bun:test";
import { OPTIONS, resolveConfig } from "../../src/config/options.ts";
import { UsageError } from "../../src/errors.ts";

describe("resolveConfig", () => {
  test("defaults", () => {
    const { config, origin } = resolveConfig({});
    expect(config).toMatchObject({ schema: "std", publisher: "xenstore", root: "/", memoryInterval: 60, loglevel: "info", stderr: false });
    expect(origin.schema).toBe("default");
  });

  test("cli beats file beats env beats default", () => {
    const { config, origin } = resolveConfig({
      env: { XENSTORE_SCHEMA: "rfc", XEN_GUEST_AGENT_ROOT: "/host" },
      file: { "memory-interval": 30, root: "/file" },
      cli: { "memory-interval": "15" },
    });
    expect(config.schema).toBe("rfc");
    expect(origin.schema).toBe("env");
    expect(config.root).toBe("/file");
    expect(origin.root).toBe("file");
    expect(config.memoryInterval).toBe(15);
    expect(origin.memoryInterval).toBe("cli");
  });

  test.each([
    [{ cli: { schema: "xml" } }, "option --schema: 'xml' is not one of std, rfc"],
    [{ cli: { "memory-interval": "0" } }, "option --memory-interval: 0 is below the minimum 1"],
    [{ cli: { "memory-interval": "ten" } }, "option --memory-interval: expected a number, got 'ten'"],
    [{ env: { XENSTORE_SCHEMA: "bogus" } }, "environment variable XENSTORE_SCHEMA: 'bogus' is not one of std, rfc"],
    [{ file: { extended: "maybe" }, fileName: "/etc/x.toml" }, "key 'extended' in /etc/x.toml: expected true or false, got 'maybe'"],
  ])("bad value %p", (sources, message) => {
    expect(() => resolveConfig(sources)).toThrow(new UsageError(message));
  });

  test("lists from text or arrays", () => {
    expect(resolveConfig({ cli: { exclude: "eth9, tap*," } }).config.exclude).toEqual(["eth9", "tap*"]);
    expect(resolveConfig({ file: { include: ["eth*"] } }).config.include).toEqual(["eth*"]);
  });

  test("every option has a unique flag and a description", () => {
    const flags = OPTIONS.map((o) => o.flag);
    expect(new Set(flags).size).toBe(flags.length);
    for (const o of OPTIONS) expect(o.description.length).toBeGreaterThan(10);
  });
});
