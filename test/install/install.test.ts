// `xen-guest-agent install` / `uninstall`, run from the built binary:
// - into a prefix (files only), with a recording systemctl on PATH that must never be called;
// - as the live system inside a chroot, with fake systemctl / rc-update / rc-service / update-rc.d
//   that record their calls and keep enabled/active state in files, so idempotence is visible.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  REPO, chrootUnavailable, copyInto, glibcRoot, inChroot, releaseBinary, removeTree, skipped, tempDir, writeExecutable,
} from "./support.ts";

const UNIT = readFileSync(join(REPO, "deploy/systemd/xen-guest-agent.service"), "utf8");
let agent = "";
let newerAgent = ""; // a different build, standing in for an upgrade
const dirs: string[] = [];

beforeAll(async () => {
  agent = await releaseBinary("linux-x64");
  newerAgent = await releaseBinary("linux-x64-baseline");
}, 300_000);
afterAll(() => dirs.forEach(removeTree));

function tmp(name: string): string {
  const d = tempDir(name);
  dirs.push(d);
  return d;
}

/** Lists every path under `root`, relative, sorted. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel))) {
      const p = rel ? `${rel}/${e}` : e;
      out.push(p);
      if (statSync(join(root, p)).isDirectory()) walk(p);
    }
  };
  walk("");
  return out.sort();
}

function runAgent(args: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync([agent, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

// A service manager that records every call in /calls and keeps state in /state/<enabled|active>.<name>.
const STATE_LIB = `
log() { echo "$*" >> /calls; }
get() { v=0; [ -r "/state/$1.$2" ] && read v < "/state/$1.$2"; [ "$v" = 1 ]; }
put() { echo "$3" > "/state/$1.$2"; }
`;
const FAKE_SYSTEMCTL = `#!/bin/sh
${STATE_LIB}
log systemctl "$@"
[ "$2" = --quiet ] && n=\${3%.service} || n=\${2%.service}
case "$1" in
  is-enabled) get enabled "$n" ;;
  is-active) get active "$n" ;;
  enable) put enabled "$n" 1 ;;
  disable) put enabled "$n" 0 ;;
  start|restart) put active "$n" 1 ;;
  stop) put active "$n" 0 ;;
  daemon-reload) ;;
  *) exit 1 ;;
esac
`;

describe("install into a prefix (files only)", () => {
  test("writes the binary and the unit, changes nothing the second time, uninstall leaves the prefix as it was", () => {
    const prefix = tmp("prefix");
    const bin = tmp("bin");
    writeExecutable(join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> ${bin}/calls\n`);
    const env = { PATH: `${bin}:${process.env.PATH}` };

    const first = runAgent(["install", "--prefix", prefix, "--init", "systemd", "--force"], env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`wrote ${prefix}/usr/sbin/xen-guest-agent`);
    expect(first.stdout).toContain("not enabled or started");
    expect(readFileSync(join(prefix, "usr/sbin/xen-guest-agent")).equals(readFileSync(agent))).toBe(true);
    expect(statSync(join(prefix, "usr/sbin/xen-guest-agent")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(prefix, "etc/systemd/system/xen-guest-agent.service"), "utf8")).toBe(UNIT);
    const manifest = JSON.parse(readFileSync(join(prefix, "var/lib/xen-guest-agent/install.json"), "utf8"));
    expect(Object.keys(manifest.files).sort()).toEqual(["/etc/systemd/system/xen-guest-agent.service", "/usr/sbin/xen-guest-agent"]);

    const before = tree(prefix).map((p) => `${p} ${statSync(join(prefix, p)).mtimeMs}`);
    const second = runAgent(["install", "--prefix", prefix, "--init", "systemd", "--force"], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("already installed (systemd): nothing changed");
    expect(second.stdout).not.toContain("wrote");
    expect(tree(prefix).map((p) => `${p} ${statSync(join(prefix, p)).mtimeMs}`)).toEqual(before);

    const un = runAgent(["uninstall", "--prefix", prefix], env);
    expect(un.code).toBe(0);
    expect(tree(prefix)).toEqual([]);
    expect(runAgent(["uninstall", "--prefix", prefix], env).stdout).toContain("nothing to uninstall");
    expect(existsSync(join(bin, "calls"))).toBe(false); // a prefix never touches the running system
  });

  const systemctl = Bun.which("systemctl");
  if (!systemctl) skipped("prefix enablement links", "systemctl is not installed");
  test.skipIf(!systemctl)("an image build needs no --force; uninstall also removes the link `systemctl --root` made as the hint says", () => {
    const prefix = tmp("image");
    mkdirSync(join(prefix, "usr/lib/systemd"), { recursive: true });
    writeExecutable(join(prefix, "usr/lib/systemd/systemd"), ""); // the image's init, found there
    const r = runAgent(["install", "--prefix", prefix]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`systemctl --root=<prefix> enable xen-guest-agent.service`);
    const enable = Bun.spawnSync([systemctl as string, `--root=${prefix}`, "enable", "xen-guest-agent.service"], { stdout: "pipe", stderr: "pipe" });
    expect(enable.exitCode).toBe(0);
    // The link's target is absolute inside the image: look at the link, not through it.
    expect(lstatSync(join(prefix, "etc/systemd/system/multi-user.target.wants/xen-guest-agent.service")).isSymbolicLink()).toBe(true);
    const un = runAgent(["uninstall", "--prefix", prefix]);
    expect(un.code).toBe(0);
    expect(un.stdout).toContain("multi-user.target.wants/xen-guest-agent.service");
    expect(tree(prefix)).toEqual(["usr", "usr/lib", "usr/lib/systemd", "usr/lib/systemd/systemd"]);
  });

  test("the init system is found in the prefix: OpenRC and SysV scripts come from deploy/", () => {
    const openrc = tmp("openrc");
    writeExecutable(join(openrc, "sbin/openrc-run"), "");
    expect(runAgent(["install", "--prefix", openrc, "--force"]).code).toBe(0);
    expect(readFileSync(join(openrc, "etc/init.d/xen-guest-agent"), "utf8")).toBe(readFileSync(join(REPO, "deploy/openrc/xen-guest-agent.initd"), "utf8"));
    expect(runAgent(["uninstall", "--prefix", openrc]).code).toBe(0);
    expect(tree(openrc)).toEqual(["sbin", "sbin/openrc-run"]);

    const sysv = tmp("sysv");
    mkdirSync(join(sysv, "etc/init.d"), { recursive: true });
    const r = runAgent(["install", "--prefix", sysv, "--force"]);
    expect(r.stdout).toContain("update-rc.d xen-guest-agent defaults");
    expect(statSync(join(sysv, "etc/init.d/xen-guest-agent")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(sysv, "etc/init.d/xen-guest-agent"), "utf8")).toBe(readFileSync(join(REPO, "deploy/sysv/xen-guest-agent.init"), "utf8"));
  });

  test("the OpenRC and SysV scripts are valid sh", () => {
    for (const script of ["deploy/openrc/xen-guest-agent.initd", "deploy/sysv/xen-guest-agent.init"]) {
      const r = Bun.spawnSync(["sh", "-n", join(REPO, script)], { stderr: "pipe" });
      expect({ script, stderr: r.stderr.toString(), code: r.exitCode }).toEqual({ script, stderr: "", code: 0 });
    }
  });

  test("an empty prefix needs --init; bad values are usage errors (exit 2)", () => {
    const prefix = tmp("empty");
    const r = runAgent(["install", "--prefix", prefix, "--force"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("pass --init systemd|openrc|sysv");
    expect(runAgent(["install", "--prefix", prefix, "--init", "upstart", "--force"]).code).toBe(2);
    expect(runAgent(["install", "--prefix", "relative/dir", "--force"]).code).toBe(2);
    expect(runAgent(["install", "--prefix", prefix, "--bogus"]).code).toBe(2);
  });

  test("never overwrites a binary it did not install (the Rust agent's package, a distro package)", () => {
    const prefix = tmp("foreign");
    writeExecutable(join(prefix, "usr/sbin/xen-guest-agent"), "#!/bin/sh\n# the Rust agent\n");
    const r = runAgent(["install", "--prefix", prefix, "--init", "systemd", "--force"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("was not written by `xen-guest-agent install`");
    expect(readFileSync(join(prefix, "usr/sbin/xen-guest-agent"), "utf8")).toContain("the Rust agent");
    expect(existsSync(join(prefix, "etc/systemd"))).toBe(false);
  });

  test("an identical file already there (a package's) is used but left out of the manifest, so uninstall keeps it", () => {
    const prefix = tmp("identical");
    mkdirSync(join(prefix, "usr/sbin"), { recursive: true });
    writeFileSync(join(prefix, "usr/sbin/xen-guest-agent"), readFileSync(agent), { mode: 0o755 });
    const r = runAgent(["install", "--prefix", prefix, "--init", "systemd", "--force"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`kept ${prefix}/usr/sbin/xen-guest-agent: already there, identical`);
    expect(runAgent(["uninstall", "--prefix", prefix]).code).toBe(0);
    expect(tree(prefix)).toEqual(["usr", "usr/sbin", "usr/sbin/xen-guest-agent"]);
  });

});

/** A chroot where the agent and shell scripts run: the downloaded binary is /root/xen-guest-agent; a Xen guest unless `xen` is false. */
function liveRoot(name: string, tools: Record<string, string>, xen = true): string {
  const root = tmp(name);
  glibcRoot(root, [agent, "/bin/ln", "/bin/rm"]);
  copyInto(root, "/bin/ln");
  copyInto(root, "/bin/rm");
  copyInto(root, agent, "/root/xen-guest-agent", 0o755);
  copyInto(root, newerAgent, "/root/xen-guest-agent-newer", 0o755);
  for (const [tool, text] of Object.entries(tools)) writeExecutable(join(root, "usr/bin", tool), text);
  mkdirSync(join(root, "state"));
  if (xen) {
    mkdirSync(join(root, "sys/hypervisor"), { recursive: true });
    writeFileSync(join(root, "sys/hypervisor/type"), "xen\n");
  }
  return root;
}

function calls(root: string): string[] {
  const path = join(root, "calls");
  const lines = existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : [];
  writeFileSync(path, "");
  return lines.filter((l) => l !== "");
}

const MUTATING = /^(systemctl (enable|disable|start|stop|restart|daemon-reload)|rc-update|rc-service \S+ (start|stop|restart)|update-rc\.d)/;

describe("install on the running system (chroot, fake service managers)", () => {
  const why = chrootUnavailable();
  if (why) skipped("live install tests", why);

  test.skipIf(why !== undefined)("systemd: stops and disables xe-linux-distribution, enables and starts ours; idempotent; upgrade restarts; uninstall reverses exactly", () => {
    const root = liveRoot("systemd", { systemctl: FAKE_SYSTEMCTL });
    mkdirSync(join(root, "run/systemd/system"), { recursive: true });
    writeExecutable(join(root, "lib/systemd/system/xe-linux-distribution.service"), "[Service]\nExecStart=/usr/sbin/xe-daemon\n");
    writeFileSync(join(root, "state/enabled.xe-linux-distribution"), "1\n");
    writeFileSync(join(root, "state/active.xe-linux-distribution"), "1\n");

    const first = inChroot(root, ["/root/xen-guest-agent", "install", "--force"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([
      "systemctl stop xe-linux-distribution.service",
      "systemctl disable xe-linux-distribution.service",
      "systemctl daemon-reload",
      "systemctl enable xen-guest-agent.service",
      "systemctl start xen-guest-agent.service",
    ]);
    expect(first.stdout).toContain("stopped xe-linux-distribution");
    expect(readFileSync(join(root, "etc/systemd/system/xen-guest-agent.service"), "utf8")).toBe(UNIT);
    expect(readFileSync(join(root, "usr/sbin/xen-guest-agent")).equals(readFileSync(agent))).toBe(true);

    // Second run, from the installed binary itself: nothing to do, and it says so.
    const second = inChroot(root, ["/usr/sbin/xen-guest-agent", "install", "--force"]);
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe("already installed (systemd): nothing changed");
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([]);

    // A different binary: replaced in place and the running service restarted.
    const upgrade = inChroot(root, ["/root/xen-guest-agent-newer", "install", "--force"]);
    expect(upgrade.code).toBe(0);
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual(["systemctl daemon-reload", "systemctl restart xen-guest-agent.service"]);
    expect(readFileSync(join(root, "usr/sbin/xen-guest-agent")).equals(readFileSync(newerAgent))).toBe(true);

    const un = inChroot(root, ["/usr/sbin/xen-guest-agent", "uninstall"]);
    expect(un.stderr).toBe("");
    expect(un.code).toBe(0);
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([
      "systemctl stop xen-guest-agent.service",
      "systemctl disable xen-guest-agent.service",
      "systemctl daemon-reload",
      "systemctl enable xe-linux-distribution.service",
      "systemctl start xe-linux-distribution.service",
    ]);
    for (const p of ["usr/sbin/xen-guest-agent", "etc/systemd/system/xen-guest-agent.service", "var/lib/xen-guest-agent"]) expect(existsSync(join(root, p))).toBe(false);
  });

  test.skipIf(why !== undefined)("off Xen with --force: enabled but not started, says so, and a second run changes nothing", () => {
    const root = liveRoot("systemd-forced", { systemctl: FAKE_SYSTEMCTL }, false);
    mkdirSync(join(root, "run/systemd/system"), { recursive: true });
    const refused = inChroot(root, ["/root/xen-guest-agent", "install"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("use --force");
    const first = inChroot(root, ["/root/xen-guest-agent", "install", "--force"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("not started: this machine is not a Xen guest");
    expect(first.stdout).not.toContain("started xen-guest-agent");
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual(["systemctl daemon-reload", "systemctl enable xen-guest-agent.service"]);
    const second = inChroot(root, ["/usr/sbin/xen-guest-agent", "install", "--force"]);
    expect(second.stdout.trim()).toBe("already installed (systemd): nothing changed");
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([]);
  });

  test.skipIf(why !== undefined)("a start that leaves the service inactive (a condition skipped it) is not reported as started", () => {
    const root = liveRoot("systemd-skipped", { systemctl: FAKE_SYSTEMCTL.replace("start|restart) put active", "start) ;;\n  restart) put active") });
    mkdirSync(join(root, "run/systemd/system"), { recursive: true });
    const r = inChroot(root, ["/root/xen-guest-agent", "install"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("asked to start xen-guest-agent, but it is not running");
    expect(r.stdout).not.toMatch(/^started /m);
  });

  test.skipIf(why !== undefined)("systemd: uninstall re-enables nothing that install did not disable", () => {
    const root = liveRoot("systemd-off", { systemctl: FAKE_SYSTEMCTL });
    mkdirSync(join(root, "run/systemd/system"), { recursive: true });
    writeExecutable(join(root, "lib/systemd/system/xe-linux-distribution.service"), "[Service]\n");
    expect(inChroot(root, ["/root/xen-guest-agent", "install", "--force"]).code).toBe(0);
    calls(root);
    expect(inChroot(root, ["/usr/sbin/xen-guest-agent", "uninstall"]).code).toBe(0);
    expect(calls(root).filter((c) => /xe-linux-distribution/.test(c) && MUTATING.test(c))).toEqual([]);
  });

  test.skipIf(why !== undefined)("sysv: the real init script starts, reports and stops the agent; update-rc.d links; reversed by uninstall", () => {
    const root = liveRoot("sysv", {
      "update-rc.d": `#!/bin/sh
echo "update-rc.d $*" >> /calls
n=$1
case "$2" in
  defaults) for l in 0 1 2 3 4 5 6; do mkdir -p /etc/rc$l.d; case $l in [2-5]) k=S ;; *) k=K ;; esac; ln -s ../init.d/$n /etc/rc$l.d/\${k}01$n; done ;;
  disable) for f in /etc/rc[2-5].d/S[0-9][0-9]$n; do [ -L "$f" ] && mv "$f" "\${f%/*}/K\${f##*/S}"; done; true ;;
  enable) for f in /etc/rc[2-5].d/K[0-9][0-9]$n; do [ -L "$f" ] && mv "$f" "\${f%/*}/S\${f##*/K}"; done; true ;;
  remove) rm -f /etc/rc?.d/[SK][0-9][0-9]$n ;;
esac
`,
      // The agent itself cannot run without xenstore; /etc/default points the script at a sleeper.
      "fake-agent": "#!/bin/sh\nexec sleep 600\n",
    });
    for (const tool of ["/bin/mkdir", "/bin/mv", "/bin/cat", "/bin/sleep"]) copyInto(root, tool);
    glibcRoot(root, ["/bin/mkdir", "/bin/mv", "/bin/cat", "/bin/sleep"]);
    mkdirSync(join(root, "etc/default"), { recursive: true });
    writeFileSync(join(root, "etc/default/xen-guest-agent"), "DAEMON=/usr/bin/fake-agent\n");
    mkdirSync(join(root, "var/run"), { recursive: true });
    mkdirSync(join(root, "dev/xen"), { recursive: true });
    writeFileSync(join(root, "dev/xen/xenbus"), "");
    writeExecutable(
      join(root, "etc/init.d/xe-linux-distribution"),
      '#!/bin/sh\ncase "$1" in status) [ -e /xe-running ] ;; stop) rm -f /xe-running ;; start) : > /xe-running ;; esac\n',
    );
    writeFileSync(join(root, "xe-running"), "");
    for (const l of ["2", "3", "4", "5"]) {
      mkdirSync(join(root, `etc/rc${l}.d`), { recursive: true });
      symlinkSync("../init.d/xe-linux-distribution", join(root, `etc/rc${l}.d/S20xe-linux-distribution`));
    }
    // One chroot session: the agent started by the first install must still run for the second.
    const r = inChroot(root, [
      "/bin/sh", "-c",
      "/root/xen-guest-agent install --force --init sysv; echo ==; /usr/sbin/xen-guest-agent install --force --init sysv; echo ==; " +
        "/etc/init.d/xen-guest-agent status; echo ==; /usr/sbin/xen-guest-agent uninstall",
    ]);
    expect(r.stderr).toBe("");
    const [first, second, status, un] = r.stdout.split("==\n");
    expect(first).toContain("stopped xe-linux-distribution");
    expect(first).toContain("started xen-guest-agent");
    expect(second?.trim()).toBe("already installed (sysv): nothing changed");
    expect(status).toMatch(/^xen-guest-agent is running \(pid \d+\)/);
    expect(un).toContain("stopped xen-guest-agent");
    expect(existsSync(join(root, "var/run/xen-guest-agent.pid"))).toBe(false); // the script's stop ran
    expect(un).toContain("enabled xe-linux-distribution again");
    expect(un).toContain("started xe-linux-distribution again");
    for (const l of ["2", "3", "4", "5"]) expect(readdirSync(join(root, `etc/rc${l}.d`))).toEqual(["S20xe-linux-distribution"]);
    expect(calls(root)).toEqual([
      "update-rc.d xe-linux-distribution disable",
      "update-rc.d xen-guest-agent defaults",
      "update-rc.d xen-guest-agent disable",
      "update-rc.d xen-guest-agent remove",
      "update-rc.d xe-linux-distribution enable",
    ]);
    expect(existsSync(join(root, "xe-running"))).toBe(true);
    expect(existsSync(join(root, "etc/init.d/xen-guest-agent"))).toBe(false);
  });

  test.skipIf(why !== undefined)("openrc: rc-update and rc-service, idempotent, reversed by uninstall", () => {
    const root = liveRoot("openrc", {
      "rc-update": `#!/bin/sh\n${STATE_LIB}\nlog rc-update "$@"\ncase "$1" in add) ln -s /etc/init.d/$2 /etc/runlevels/$3/$2 ;; del) rm /etc/runlevels/$3/$2 ;; esac\n`,
      "rc-service": `#!/bin/sh\n${STATE_LIB}\nlog rc-service "$@"\ncase "$2" in status) get active "$1" ;; start|restart) put active "$1" 1 ;; stop) put active "$1" 0 ;; esac\n`,
    });
    writeExecutable(join(root, "sbin/openrc-run"), "");
    mkdirSync(join(root, "etc/runlevels/default"), { recursive: true });
    writeExecutable(join(root, "etc/init.d/xe-linux-distribution"), "#!/sbin/openrc-run\n");
    symlinkSync("/etc/init.d/xe-linux-distribution", join(root, "etc/runlevels/default/xe-linux-distribution"));

    expect(inChroot(root, ["/root/xen-guest-agent", "install", "--force"]).code).toBe(0);
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([
      "rc-update del xe-linux-distribution default",
      "rc-update add xen-guest-agent default",
      "rc-service xen-guest-agent start",
    ]);
    expect(inChroot(root, ["/usr/sbin/xen-guest-agent", "install", "--force"]).stdout).toContain("nothing changed");
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([]);
    expect(inChroot(root, ["/usr/sbin/xen-guest-agent", "uninstall"]).code).toBe(0);
    expect(calls(root).filter((c) => MUTATING.test(c))).toEqual([
      "rc-service xen-guest-agent stop",
      "rc-update del xen-guest-agent default",
      "rc-update add xe-linux-distribution default",
    ]);
    expect(existsSync(join(root, "etc/init.d/xen-guest-agent"))).toBe(false);
  });
});
