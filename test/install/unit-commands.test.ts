// The systemd unit's commands and restart policy, as a minimal system runs them:
// - every Exec*= program is the agent or /bin/sh (essential everywhere); /bin/kill is procps, which
//   a Debian minbase root lacks, so `systemctl reload` would fail there;
// - ExecReload= really delivers SIGHUP to $MAINPID, run the way systemd runs it (argv split, env);
// - exit 2 (bad configuration) is not restarted, exit 1 (xenbus not there yet) is, until the start
//   limit: systemd's default (5 in 10 s) is never reached at 2 s plus the agent's start time.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./support.ts";

const UNIT = readFileSync(join(REPO, "deploy/systemd/xen-guest-agent.service"), "utf8");
const lines = UNIT.split("\n").filter((l) => !l.startsWith("#"));
const value = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

/** systemd's split of a command line: words, single or double quotes group (no escapes used here). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? (m[3] as string));
}

describe("deploy/systemd/xen-guest-agent.service commands", () => {
  test("every Exec*= program exists on a minimal system: the agent or /bin/sh", () => {
    const programs = lines.filter((l) => /^Exec\w+=/.test(l)).map((l) => words(l.slice(l.indexOf("=") + 1))[0]?.replace(/^[-@:+!]+/, ""));
    expect(programs.length).toBeGreaterThanOrEqual(2);
    for (const p of programs) expect(["/usr/sbin/xen-guest-agent", "/bin/sh"]).toContain(p as string);
  });

  test("ExecReload= sends SIGHUP to $MAINPID (run with the environment systemd gives it)", async () => {
    const main = Bun.spawn(["sh", "-c", "trap 'echo hup; exit 0' HUP; echo ready; while :; do sleep 1; done"], { stdout: "pipe" });
    const reader = main.stdout.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const until = async (text: string) => {
      while (!seen.includes(text)) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(chunk);
      }
    };
    await until("ready");
    const [reload] = value("ExecReload");
    const r = Bun.spawnSync(words(reload as string), { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", MAINPID: String(main.pid) }, stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    await until("hup");
    expect(seen).toContain("hup");
    expect(await main.exited).toBe(0);
  }, 10_000);

  test("exit 2 (bad configuration) is not restarted; exit 1 and 70 are (Restart=on-failure)", () => {
    expect(value("Restart")).toEqual(["on-failure"]);
    const prevented = value("RestartPreventExitStatus").flatMap((v) => v.split(/\s+/));
    expect(prevented).toContain("2");
    expect(prevented).not.toContain("1");
    expect(prevented).not.toContain("70");
  });

  test("the restarts end: the start limit's burst fits in its interval at RestartSec (booted: nspawn-boot.test.ts)", () => {
    const seconds = (v: string | undefined) => Number(/^(\d+)s$/.exec(v ?? "")?.[1]);
    const burst = Number(value("StartLimitBurst")[0]);
    expect(burst).toBeGreaterThan(1);
    expect(burst * seconds(value("RestartSec")[0])).toBeLessThan(seconds(value("StartLimitIntervalSec")[0]));
  });
});
