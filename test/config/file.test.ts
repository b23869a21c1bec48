import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderJson, renderToml } from "../../src/cli/config.ts";
import { OPTIONS } from "../../src/config/options.ts";
import { CONFIG_FILE_ENV, configFilePath, DEFAULT_CONFIG_FILE, lineOfKey, loadConfig, parseConfigText } from "../../src/config/file.ts";
import { UsageError } from "../../src/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "xga-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(dir, `c${n++}.toml`);
  writeFileSync(p, text);
  return p;
}
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("configuration file", () => {
  test("every option has a key, and the file's values are used", () => {
    const path = file('schema = "rfc"\nmemory-interval = 30\nexclude = ["eth9", "tap*"]\nlink-local = false\nraise-freeze-timeout = false\n');
    const { config, origin, file: f } = loadConfig({ config: path }, {});
    expect(f).toMatchObject({ path, found: true, explicit: true });
    expect(config).toMatchObject({ schema: "rfc", memoryInterval: 30, exclude: ["eth9", "tap*"], linkLocal: false, raiseFreezeTimeout: false });
    expect(origin).toMatchObject({ schema: "file", memoryInterval: "file", stderr: "default" });
  });

  test("the command line overrides the file, the file overrides the environment", () => {
    const path = file('schema = "rfc"\nmemory-interval = 30\n');
    const { config, origin } = loadConfig({ config: path, "memory-interval": "5" }, { XENSTORE_SCHEMA: "std" });
    expect(config.schema).toBe("rfc");
    expect(origin.schema).toBe("file");
    expect(config.memoryInterval).toBe(5);
    expect(origin.memoryInterval).toBe("cli");
  });

  test("a missing default file is fine; a missing explicit file is an error", () => {
    expect(configFilePath(undefined, {})).toEqual({ path: DEFAULT_CONFIG_FILE, explicit: false });
    expect(configFilePath(undefined, { [CONFIG_FILE_ENV]: "/x.toml" })).toEqual({ path: "/x.toml", explicit: true });
    const missing = join(dir, "nope.toml");
    expect(errorOf(() => loadConfig({ config: missing }, {}))).toBe(`cannot read configuration file ${missing}: no such file`);
    // The default path on this machine may or may not exist; pretend through the env it is absent.
    const r = loadConfig({}, {});
    expect(r.file.explicit).toBe(false);
  });

  test("a FIFO, /dev/zero or a huge file as --config is refused at once, not read (issue 19 #6)", () => {
    const fifo = join(dir, "fifo.toml");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(errorOf(() => loadConfig({ config: fifo }, {}))).toContain("FIFO, not a regular file");
    expect(errorOf(() => loadConfig({ config: "/dev/zero" }, {}))).toContain("character device, not a regular file");
    const huge = join(dir, "huge.toml");
    writeFileSync(huge, "");
    truncateSync(huge, 100 << 20);
    expect(errorOf(() => loadConfig({ config: huge }, {}))).toContain("too big for a configuration file");
  });

  test.each([
    ["memory-interval = 30\nfoo = 1\n", "line 2: unknown key 'foo'"],
    ["memory_interval = 30\n", "line 1: unknown key 'memory_interval' (did you mean 'memory-interval'?)"],
    ["# comment\n\nextended = \"maybe\"\n", "key 'extended' in PATH line 3: expected true or false, got 'maybe'"],
    ["schema = 'xml'\n", "key 'schema' in PATH line 1: 'xml' is not one of std, rfc"],
    ["\n\nmemory-interval = 0\n", "key 'memory-interval' in PATH line 3: 0 is below the minimum 1"],
    ["a = 1\n\n[memory-interval]\nx = 1\n", "line 1: unknown key 'a'"],
    ["[memory-interval]\nx = 1\n", "line 1: key 'memory-interval' must be a value, not a table"],
    ["memory-interval = 30\nmemory-interval = 3\n", "line 2: not valid TOML: Cannot redefine key 'memory-interval'"],
    ["stderr = true\nloglevel =\n", "line 2: not valid TOML"],
    ["include = [1, 2]\n", "key 'include' in PATH line 1: expected a list of text values"],
  ])("%j → error naming key and line", (text, message) => {
    const path = file(text);
    expect(errorOf(() => loadConfig({ config: path }, {}))).toContain(message.replace("PATH", path));
  });

  test("lineOfKey finds bare and quoted keys, not substrings", () => {
    const text = 'exclude-x = 1\n  "exclude" = ["a"]\nexclude = 2\n';
    expect(lineOfKey(text, "exclude")).toBe(2);
    expect(lineOfKey(text, "exclude", 2)).toBe(3);
    expect(lineOfKey(text, "root")).toBeUndefined();
  });
});

describe("xen-guest-agent config", () => {
  test("TOML output names each origin and parses back to the same configuration", () => {
    const path = file('memory-interval = 30\nexclude = ["tap*"]\n');
    const loaded = loadConfig({ config: path, stderr: true }, { XENSTORE_SCHEMA: "rfc" });
    const text = renderToml(loaded);
    expect(text).toContain("schema = \"rfc\"");
    expect(text).toMatch(/schema = "rfc" +# env XENSTORE_SCHEMA/);
    expect(text).toMatch(new RegExp(`memory-interval = 30 +# file ${path.replace(/[.]/g, "\\.")}`));
    expect(text).toMatch(/stderr = true +# cli --stderr/);
    expect(text).toMatch(/coalesce-ms = 10 +# default/);
    for (const o of OPTIONS) expect(text).toContain(`\n${o.flag} = `);
    // Pasted back as a file, it gives the same configuration.
    const again = loadConfig({ config: file(text) }, {});
    expect(again.config).toEqual(loaded.config);
    expect(parseConfigText(text, "pasted")).toBeDefined();
  });

  test("--json", () => {
    const loaded = loadConfig({ config: file("extended = true\n") }, {});
    const j = JSON.parse(renderJson(loaded));
    expect(j.file.found).toBe(true);
    expect(j.options.extended).toEqual({ value: true, origin: "file" });
    expect(j.options.schema).toEqual({ value: "std", origin: "default", env: "XENSTORE_SCHEMA" });
  });
});
