// The three init systems `install` supports, behind one small interface: where our service file
// goes, and how to ask whether a service is enabled or running and to change that. Every state
// question is asked before acting, so a second `install` makes no call that changes anything.
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import openrcScript from "../../deploy/openrc/xen-guest-agent.initd" with { type: "text" };
import sysvScript from "../../deploy/sysv/xen-guest-agent.init" with { type: "text" };
import systemdUnit from "../../deploy/systemd/xen-guest-agent.service" with { type: "text" };
import { FatalError } from "../errors.ts";

export const INIT_SYSTEMS = ["systemd", "openrc", "sysv"] as const;
export type InitSystem = (typeof INIT_SYSTEMS)[number];

/** The service xe-guest-utilities installs; both agents write the same keys, so only one may run. */
export const XE_SERVICE = "xe-linux-distribution";
export const OUR_SERVICE = "xen-guest-agent";

export interface ServiceManager {
  init: InitSystem;
  /** Where our service file goes (absolute inside the target root) and its text and mode. */
  serviceFile: { path: string; text: string; mode: number };
  /** Whether `name` is installed at all (looked up as files under the root). */
  present(name: string): boolean;
  enabled(name: string): boolean;
  active(name: string): boolean;
  enable(name: string): void;
  disable(name: string): void;
  start(name: string): void;
  stop(name: string): void;
  restart(name: string): void;
  /** After our service file changed or was removed (systemd re-reads units; others need nothing). */
  reload(): void;
  /** Called after our service file is deleted (SysV drops its rc.d links). */
  forget(name: string): void;
  /** The enablement links of `name` under the root (what `enable` or `systemctl --root` made). */
  links(name: string): string[];
}

/** Symbolic links named `file` (or matching it) in the directories `under` the root matching `dirs`. */
function linksIn(root: string, under: string, dirs: RegExp, file: (f: string) => boolean): string[] {
  const base = join(root, under);
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((d) => dirs.test(d))
    .flatMap((d) => (existsSync(join(base, d)) ? readdirSync(join(base, d)).filter(file).map((f) => join(base, d, f)) : []))
    .filter((p) => lstatSync(p).isSymbolicLink());
}

interface Ran {
  code: number;
  output: string;
}

function run(argv: string[]): Ran {
  try {
    const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    return { code: r.exitCode ?? 1, output: (r.stdout.toString() + r.stderr.toString()).trim() };
  } catch (e) {
    throw new FatalError(`cannot run ${argv[0]}: ${(e as Error).message}`);
  }
}

/** Runs a command that changes state; a failure stops the installer with the command's own words. */
function must(argv: string[]): void {
  const r = run(argv);
  if (r.code !== 0) throw new FatalError(`\`${argv.join(" ")}\` failed (exit ${r.code})${r.output ? `: ${r.output}` : ""}`);
}

function need(command: string, init: InitSystem): string {
  const found = Bun.which(command);
  if (!found) throw new FatalError(`${command} is not on PATH, so the ${init} service cannot be enabled (choose another --init?)`);
  return found;
}

function systemd(root: string): ServiceManager {
  const unitDirs = ["etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system", "etc/init.d"];
  const unit = (name: string) => `${name}.service`;
  const ctl = (...args: string[]) => [need("systemctl", "systemd"), ...args];
  return {
    init: "systemd",
    serviceFile: { path: "/etc/systemd/system/xen-guest-agent.service", text: systemdUnit, mode: 0o644 },
    // systemd also runs SysV scripts from /etc/init.d (the older xe-guest-utilities packages ship one).
    present: (name) => unitDirs.some((d) => existsSync(join(root, d, d === "etc/init.d" ? name : unit(name)))),
    enabled: (name) => run(ctl("is-enabled", "--quiet", unit(name))).code === 0,
    active: (name) => run(ctl("is-active", "--quiet", unit(name))).code === 0,
    enable: (name) => must(ctl("enable", unit(name))),
    disable: (name) => must(ctl("disable", unit(name))),
    start: (name) => must(ctl("start", unit(name))),
    stop: (name) => must(ctl("stop", unit(name))),
    restart: (name) => must(ctl("restart", unit(name))),
    reload: () => must(ctl("daemon-reload")),
    forget: () => {},
    links: (name) => linksIn(root, "etc/systemd/system", /\.(wants|requires)$/, (f) => f === unit(name)),
  };
}

function openrc(root: string): ServiceManager {
  return {
    init: "openrc",
    serviceFile: { path: "/etc/init.d/xen-guest-agent", text: openrcScript, mode: 0o755 },
    present: (name) => existsSync(join(root, "etc/init.d", name)),
    // rc-update records a runlevel membership as a symlink; reading it needs no command.
    enabled: (name) => existsSync(join(root, "etc/runlevels/default", name)),
    active: (name) => run([need("rc-service", "openrc"), name, "status"]).code === 0,
    enable: (name) => must([need("rc-update", "openrc"), "add", name, "default"]),
    disable: (name) => must([need("rc-update", "openrc"), "del", name, "default"]),
    start: (name) => must([need("rc-service", "openrc"), name, "start"]),
    stop: (name) => must([need("rc-service", "openrc"), name, "stop"]),
    restart: (name) => must([need("rc-service", "openrc"), name, "restart"]),
    reload: () => {},
    forget: () => {},
    links: (name) => linksIn(root, "etc/runlevels", /./, (f) => f === name),
  };
}

function sysv(root: string): ServiceManager {
  const script = (name: string) => join(root, "etc/init.d", name);
  const rcLinks = (name: string, kind: "S" | "K" | "SK") =>
    ["0", "1", "2", "3", "4", "5", "6"].some((level) => {
      const dir = join(root, `etc/rc${level}.d`);
      return existsSync(dir) && readdirSync(dir).some((f) => kind.includes(f[0] ?? "") && /^[SK]\d\d/.test(f) && f.slice(3) === name);
    });
  // Debian's update-rc.d, else Red Hat's chkconfig.
  const tool = (): "update-rc.d" | "chkconfig" => {
    if (Bun.which("update-rc.d")) return "update-rc.d";
    if (Bun.which("chkconfig")) return "chkconfig";
    throw new FatalError("neither update-rc.d nor chkconfig is on PATH, so the SysV service cannot be enabled");
  };
  return {
    init: "sysv",
    serviceFile: { path: "/etc/init.d/xen-guest-agent", text: sysvScript, mode: 0o755 },
    present: (name) => existsSync(script(name)),
    enabled: (name) => rcLinks(name, "S"),
    active: (name) => run([script(name), "status"]).code === 0,
    // A service that has rc links (one we disabled) gets them switched back, keeping its old start
    // order; a new one gets the links its LSB header asks for.
    enable: (name) => {
      const known = rcLinks(name, "SK");
      must(tool() === "update-rc.d" ? ["update-rc.d", name, known ? "enable" : "defaults"] : ["chkconfig", ...(known ? [name, "on"] : ["--add", name])]);
    },
    disable: (name) => must(tool() === "update-rc.d" ? ["update-rc.d", name, "disable"] : ["chkconfig", name, "off"]),
    start: (name) => must([script(name), "start"]),
    stop: (name) => must([script(name), "stop"]),
    restart: (name) => must([script(name), "restart"]),
    reload: () => {},
    forget: (name) => must(tool() === "update-rc.d" ? ["update-rc.d", name, "remove"] : ["chkconfig", "--del", name]),
    links: (name) => linksIn(root, "etc", /^rc[0-6S]\.d$/, (f) => /^[SK]\d\d/.test(f) && f.slice(3) === name),
  };
}

export function serviceManager(init: InitSystem, root: string): ServiceManager {
  return init === "systemd" ? systemd(root) : init === "openrc" ? openrc(root) : sysv(root);
}

/** The init system of the tree at `root`: the running one for `/`, the installed one for an image. */
export function detectInit(root: string, live: boolean): InitSystem | undefined {
  if (live ? existsSync("/run/systemd/system") : ["usr/lib/systemd/systemd", "lib/systemd/systemd"].some((p) => existsSync(join(root, p))))
    return "systemd";
  if (["sbin/openrc-run", "usr/sbin/openrc-run", "sbin/openrc", "usr/sbin/openrc"].some((p) => existsSync(join(root, p)))) return "openrc";
  if (existsSync(join(root, "etc/init.d"))) return "sysv";
  return undefined;
}
