// The .deb in a booted minimal Debian: a debootstrapped bookworm minbase root with systemd
// (minbase-root.ts), the package installed with dpkg in it, then booted with
// `systemd-nspawn --boot --register=no --keep-unit`. Off Xen, with a drop-in that empties
// ConditionVirtualization=, the unit really starts and fails; a report unit (OnFailure=, so it
// runs only once the agent's unit has failed for good) records what an operator would look at -
// `journalctl -p err -u xen-guest-agent`, the unit's result and restart count - and powers off.
//   - no xenstore (exit 1): the fatal line is in the journal at err, once per start, and the
//     restarts end (start limit) instead of going on every 2 s for ever;
//   - a bad configuration (exit 2): at err too, and not restarted at all.
// Before booting, `systemd-analyze verify` checks the installed unit in that root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { amd64Deb, minbaseRoot, scratchRoot } from "./minbase-root.ts";
import { REPO, copyInto, inChroot, skipped, writeExecutable } from "./support.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const UNIT = "xen-guest-agent.service";
const START_LIMIT_BURST = Number(/^StartLimitBurst=(\d+)$/m.exec(readFileSync(join(REPO, "deploy/systemd", UNIT), "utf8"))?.[1]);
const BOOT_TIMEOUT_MS = 120_000;

const base = minbaseRoot();
const why = "why" in base ? base.why : undefined;
if (why) skipped("booted minbase root", why);

let scratch: ReturnType<typeof scratchRoot> | undefined;
const root = () => (scratch as NonNullable<typeof scratch>).root;
afterAll(() => scratch?.remove());

beforeAll(async () => {
  if (!("root" in base)) return;
  const deb = await amd64Deb(VERSION);
  scratch = scratchRoot(base.root, "nspawn");
  copyInto(root(), deb, "/tmp/xen-guest-agent.deb");
  const r = inChroot(root(), ["dpkg", "-i", "/tmp/xen-guest-agent.deb"]);
  if (r.code !== 0) throw new Error(`dpkg -i in the minbase root failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
}, 600_000);

/** What the report unit wrote at the end of a boot. */
interface Report {
  show: Record<string, string>;
  /** `journalctl -p err -u xen-guest-agent.service -o cat`, as an operator runs it. */
  err: string;
  /** Every journal entry of the unit this boot (journalctl -o json), the agent's own and systemd's. */
  entries: Array<Record<string, string>>;
}

const REPORT_DIR = "/xga-report";

/** Adds the test's drop-in and report unit; nothing else in the root changes. */
function prepareBoot(): void {
  mkdirSync(join(root(), "etc/systemd/system/xen-guest-agent.service.d"), { recursive: true });
  writeFileSync(
    join(root(), "etc/systemd/system/xen-guest-agent.service.d/test-off-xen.conf"),
    "[Unit]\n# Booted off Xen: without this the unit's condition skips it.\nConditionVirtualization=\nOnFailure=xga-report.service\n",
  );
  writeExecutable(
    join(root(), "usr/local/sbin/xga-report"),
    `#!/bin/sh
mkdir -p ${REPORT_DIR}
journalctl --sync
systemctl show -p Result -p NRestarts -p ExecMainStatus -p ActiveState ${UNIT} > ${REPORT_DIR}/show
journalctl -b -p err -u ${UNIT} -o cat > ${REPORT_DIR}/err
journalctl -b -u ${UNIT} -o json > ${REPORT_DIR}/json
systemctl poweroff --no-block
`,
  );
  writeFileSync(join(root(), "etc/systemd/system/xga-report.service"), "[Service]\nType=oneshot\nExecStart=/usr/local/sbin/xga-report\n");
}

/** Boots the root until the report unit powers it off; a boot that never gets there is stopped and fails the test. */
async function boot(name: string): Promise<Report> {
  rmSync(join(root(), REPORT_DIR.slice(1)), { recursive: true, force: true });
  const log = join(root(), "..", `console-${name}.log`);
  const fd = openSync(log, "w");
  const p = Bun.spawn(["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit", "--console=read-only", "-D", root()], {
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
  });
  let timedOut = false;
  // SIGTERM makes nspawn shut the container down in order; SIGKILL if even that hangs.
  const stop = setTimeout(() => {
    timedOut = true;
    p.kill("SIGTERM");
    setTimeout(() => p.kill("SIGKILL"), 20_000).unref();
  }, BOOT_TIMEOUT_MS);
  await p.exited;
  clearTimeout(stop);
  closeSync(fd);
  const dir = join(root(), REPORT_DIR.slice(1));
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), "utf8");
    } catch {
      return undefined;
    }
  };
  const show = read("show");
  if (timedOut || show === undefined) {
    const tail = readFileSync(log, "utf8").split("\n").slice(-15).join("\n");
    throw new Error(`${name}: the container ${timedOut ? `was still running after ${BOOT_TIMEOUT_MS / 1000} s` : `exited (${p.exitCode})`} without the report: the unit never failed for good (restarting for ever?)\n${tail}`);
  }
  return {
    show: Object.fromEntries(show.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])),
    err: read("err") ?? "",
    entries: (read("json") ?? "").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)),
  };
}

/** The agent's own journal entries (its stderr stream), not systemd's about the unit. */
const agentEntries = (r: Report) => r.entries.filter((e) => e.SYSLOG_IDENTIFIER === "xen-guest-agent");

describe("the .deb in a booted bookworm minbase root", () => {
  test.skipIf(why !== undefined)("systemd-analyze verify: the installed unit is clean; with --man=yes only the missing man program is reported", () => {
    const clean = inChroot(root(), ["systemd-analyze", "verify", "--man=no", UNIT]);
    expect(clean.stdout + clean.stderr).toBe("");
    expect(clean.code).toBe(0);
    // minbase has no man-db, so every man: link fails the check, systemd's own units' too.
    const withMan = inChroot(root(), ["systemd-analyze", "verify", UNIT]);
    expect(withMan.stderr.trim().split("\n")).toEqual([`${UNIT}: Command 'man xen-guest-agent(8)' failed with code 1`]);
    expect(inChroot(root(), ["systemd-analyze", "verify", "systemd-journald.service"]).stderr).toContain("Command 'man systemd-journald.service(8)' failed");
    expect(inChroot(root(), ["dpkg", "-L", "xen-guest-agent"]).stdout).toContain("/usr/share/man/man8/xen-guest-agent.8.gz");
    // The check can fail: the unit as it was, with procps' /bin/kill, which minbase lacks.
    const unit = readFileSync(join(root(), "lib/systemd/system", UNIT), "utf8");
    writeFileSync(join(root(), "etc/systemd/system/xga-kill-probe.service"), unit.replace(/^ExecReload=.*$/m, "ExecReload=/bin/kill -HUP $MAINPID"));
    const probe = inChroot(root(), ["systemd-analyze", "verify", "--man=no", "xga-kill-probe.service"]);
    rmSync(join(root(), "etc/systemd/system/xga-kill-probe.service"));
    expect(probe.code).not.toBe(0);
    expect(probe.stderr).toContain("/bin/kill");
  }, 60_000);

  test.skipIf(why !== undefined)("off Xen (exit 1): the fatal line at err in the journal, once per start, and the restarts end", async () => {
    prepareBoot();
    const r = await boot("exit1");
    const fatal = "xen-guest-agent: not a Xen guest (no /sys/hypervisor/type) and no xenstore device or socket was found";
    const errLines = r.err.trim().split("\n");
    console.log(`journalctl -p err -u ${UNIT}: ${errLines.length} lines, e.g. ${JSON.stringify(errLines[0])}; ${JSON.stringify(r.show)}`);
    expect(errLines.filter((l) => l.startsWith(fatal)).length).toBe(START_LIMIT_BURST);
    const own = agentEntries(r);
    expect(own.length).toBe(START_LIMIT_BURST);
    for (const e of own) expect(e.PRIORITY).toBe("3");
    // systemd 252 counts the refused restart in NRestarts and keeps the last run's result.
    expect(r.entries.some((e) => e.MESSAGE === `${UNIT}: Start request repeated too quickly.`)).toBe(true);
    expect(r.show).toEqual({ Result: "exit-code", NRestarts: String(START_LIMIT_BURST), ExecMainStatus: "1", ActiveState: "failed" });
  }, BOOT_TIMEOUT_MS + 30_000);

  test.skipIf(why !== undefined)("bad configuration (exit 2): the line at err, and the unit fails at once without a restart", async () => {
    prepareBoot();
    const config = join(root(), "etc/xen-guest-agent/config.toml");
    mkdirSync(join(root(), "etc/xen-guest-agent"), { recursive: true });
    writeFileSync(config, 'schema = "nonsense"\n');
    try {
      const r = await boot("exit2");
      console.log(`journalctl -p err -u ${UNIT}: ${JSON.stringify(r.err.trim().split("\n")[0])}; ${JSON.stringify(r.show)}`);
      expect(r.err).toContain("xen-guest-agent: key 'schema' in /etc/xen-guest-agent/config.toml line 1: 'nonsense' is not one of std, rfc");
      const own = agentEntries(r);
      expect(own.length).toBe(1);
      expect(own[0]?.PRIORITY).toBe("3");
      expect(r.show).toEqual({ Result: "exit-code", NRestarts: "0", ExecMainStatus: "2", ActiveState: "failed" });
    } finally {
      rmSync(config);
    }
  }, BOOT_TIMEOUT_MS + 30_000);
});
