// What scripts and operators read from the binary's own text: --version stays bare, --verbose adds
// the name and build; uninstall's --prefix help is its own; the man page names every command.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./support.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const agent = (...args: string[]) => Bun.spawnSync([process.execPath, join(REPO, "src/main.ts"), ...args], { stdout: "pipe", stderr: "pipe" }).stdout.toString();

describe("the binary's own text", () => {
  test("--version is bare; --version --verbose names the agent, its build and runtime", () => {
    expect(agent("--version")).toBe(`${VERSION}\n`);
    expect(agent("--version", "--verbose")).toMatch(new RegExp(`^xen-guest-agent ${VERSION.replaceAll(".", "\\.")} \\(build \\d+, Bun \\d`));
  });

  test("uninstall --help describes its own --prefix", () => {
    const help = agent("uninstall", "--help");
    expect(help).toContain("Undo an install into this root");
    expect(help).not.toContain("files only, nothing is enabled");
  });

  test("the man page lists every command and keeps the keys' dashes", () => {
    const man = readFileSync(join(REPO, "deploy/man/xen-guest-agent.8"), "utf8");
    for (const c of ["collect", "config", "install", "uninstall"]) expect(man).toContain(`.B xen-guest-agent ${c}`);
    expect(man).toContain("dashes kept");
  });
});
