// `install` and `uninstall`: put the running binary and its service file in place, enable and start
// the service, and take xe-guest-utilities' service out of the way; then undo exactly that.
//
// The agent writes no file at run time; the installer writes one, a manifest of what it did
// (files with their SHA-256, directories it created, whether it stopped or disabled
// xe-linux-distribution). `uninstall` reads it, so it removes only our files and re-enables only
// what `install` disabled. Every step first asks whether it is needed, so running `install` twice
// changes nothing the second time, and says so.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { FatalError } from "../errors.ts";
import { AGENT_FACTS } from "../facts/version.ts";
import { OUR_SERVICE, serviceManager, XE_SERVICE, type InitSystem, type ServiceManager } from "./service-managers.ts";

export const BINARY_PATH = "/usr/sbin/xen-guest-agent";
export const MANIFEST_PATH = "/var/lib/xen-guest-agent/install.json";

export interface Manifest {
  /** Format of this file. */
  format: 1;
  agentVersion: string;
  init: InitSystem;
  /** Absolute paths inside the target root → SHA-256 of what we wrote. */
  files: Record<string, string>;
  /** Directories we created (parents first), removed again by uninstall when empty. */
  dirs: string[];
  /** What we did to xe-guest-utilities' service, so uninstall can undo exactly that. */
  xeLinuxDistribution: { stopped: boolean; disabled: boolean };
}

export interface InstallRequest {
  /** Root of the target tree; only `/` enables and starts services. */
  prefix: string;
  init: InitSystem;
  /** The file to install as /usr/sbin/xen-guest-agent (the running binary). */
  binary: string;
  /** Why the service must not be started here (not a Xen guest, installed with --force), if so. */
  noStart?: string;
}

export interface Outcome {
  /** One line per thing done or found, in order. */
  lines: string[];
  changed: boolean;
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function fileSha(path: string): string | undefined {
  return existsSync(path) ? sha256(readFileSync(path)) : undefined;
}

/** Writes through a temporary file and rename: a running binary is replaced without ETXTBSY. */
function writeAtomic(path: string, data: Uint8Array | string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // writeFileSync's mode is filtered by the umask
  renameSync(tmp, path);
}

/** Creates the parents of `path` that are missing, recording them (outermost first) in `created`. */
function makeParents(prefix: string, path: string, created: string[]): void {
  const missing: string[] = [];
  for (let d = dirname(path); d !== "/" && !existsSync(join(prefix, d)); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(join(prefix, d), { mode: 0o755 });
    created.push(d);
  }
}

export function readManifest(prefix: string): Manifest | undefined {
  const path = join(prefix, MANIFEST_PATH);
  if (!existsSync(path)) return undefined;
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as Manifest;
    if (m.format !== 1 || typeof m.files !== "object" || !Array.isArray(m.dirs)) throw new Error("unknown format");
    return m;
  } catch (e) {
    throw new FatalError(`${path} is not a manifest written by \`xen-guest-agent install\` (${(e as Error).message}); remove it by hand if it is stale`);
  }
}

function writeManifest(prefix: string, m: Manifest): void {
  writeAtomic(join(prefix, MANIFEST_PATH), `${JSON.stringify(m, null, 2)}\n`, 0o644);
}

export function install(req: InstallRequest): Outcome {
  const { prefix, init, binary } = req;
  const live = prefix === "/";
  const manager = serviceManager(init, prefix);
  const previous = readManifest(prefix);
  if (previous && previous.init !== init)
    throw new FatalError(`already installed for ${previous.init}; run \`xen-guest-agent uninstall\` first to switch to ${init}`);

  const binaryData = readFileSync(binary);
  const wanted: { path: string; data: Uint8Array | string; mode: number; what: string }[] = [
    { path: BINARY_PATH, data: binaryData, mode: 0o755, what: `xen-guest-agent ${AGENT_FACTS.version}` },
    { path: manager.serviceFile.path, data: manager.serviceFile.text, mode: manager.serviceFile.mode, what: `${init} service` },
  ];
  // A file we did not write (the Rust agent's package, a distro package) is never overwritten:
  // uninstall could not give it back.
  for (const f of wanted) {
    const onDisk = fileSha(join(prefix, f.path));
    if (onDisk === undefined || previous?.files[f.path] === onDisk || onDisk === sha256(typeof f.data === "string" ? Buffer.from(f.data) : f.data)) continue;
    throw new FatalError(
      previous?.files[f.path]
        ? `${join(prefix, f.path)} was changed since \`xen-guest-agent install\` wrote it; move your copy away (or into a drop-in) and run install again`
        : `${join(prefix, f.path)} exists and was not written by \`xen-guest-agent install\` (a package? see \`dpkg -S\` or \`rpm -qf\`); remove that package or file first`,
    );
  }

  const lines: string[] = [];
  const manifest: Manifest = previous ?? {
    format: 1,
    agentVersion: AGENT_FACTS.version,
    init,
    files: {},
    dirs: [],
    xeLinuxDistribution: { stopped: false, disabled: false },
  };
  manifest.agentVersion = AGENT_FACTS.version;
  let filesChanged = false;
  for (const f of wanted) {
    const target = join(prefix, f.path);
    const sum = sha256(typeof f.data === "string" ? Buffer.from(f.data) : f.data);
    const modeOk = existsSync(target) && (statSync(target).mode & 0o777) === f.mode;
    if (fileSha(target) === sum && modeOk) {
      // An identical file we did not write (a package's) stays out of the manifest, so uninstall
      // leaves it to its owner.
      if (!previous?.files[f.path]) lines.push(`kept ${target}: already there, identical (uninstall leaves it)`);
      continue;
    }
    makeParents(prefix, f.path, manifest.dirs);
    writeAtomic(target, f.data, f.mode);
    manifest.files[f.path] = sum;
    lines.push(`wrote ${target} (${f.what})`);
    filesChanged = true;
  }
  // Written before any service is touched, so a failure below can still be uninstalled.
  if (filesChanged || !previous) {
    makeParents(prefix, MANIFEST_PATH, manifest.dirs);
    writeManifest(prefix, manifest);
  }

  if (!live) {
    if (manager.present(XE_SERVICE)) lines.push(`note: ${XE_SERVICE} is installed under ${prefix}; disable it in that system (both agents write the same keys)`);
    lines.push(`not enabled or started: ${prefix} is not the running system; in it, run: ${enableHint(init)}`);
    return { lines, changed: filesChanged };
  }

  let servicesChanged = false;
  // xe-guest-utilities first: both agents write the same keys, so the old one stops before ours starts.
  if (manager.present(XE_SERVICE)) {
    if (manager.active(XE_SERVICE)) {
      manager.stop(XE_SERVICE);
      manifest.xeLinuxDistribution.stopped = true;
      lines.push(`stopped ${XE_SERVICE} (xe-guest-utilities); uninstall starts it again`);
      servicesChanged = true;
    }
    if (manager.enabled(XE_SERVICE)) {
      manager.disable(XE_SERVICE);
      manifest.xeLinuxDistribution.disabled = true;
      lines.push(`disabled ${XE_SERVICE} (xe-guest-utilities); uninstall enables it again`);
      servicesChanged = true;
    }
    if (servicesChanged) writeManifest(prefix, manifest);
  }
  if (filesChanged) manager.reload();
  if (!manager.enabled(OUR_SERVICE)) {
    manager.enable(OUR_SERVICE);
    lines.push(`enabled ${OUR_SERVICE} (${init})`);
    servicesChanged = true;
  }
  if (req.noStart) {
    // Starting would only be skipped (systemd's condition) or refused (the init scripts): say so,
    // and do not try again on the next run, so a second install still changes nothing.
    if (filesChanged || servicesChanged || !previous) lines.push(`not started: ${req.noStart}; it starts at boot on a Xen guest`);
  } else if (!manager.active(OUR_SERVICE)) {
    manager.start(OUR_SERVICE);
    if (manager.active(OUR_SERVICE)) lines.push(`started ${OUR_SERVICE}`);
    else lines.push(`asked to start ${OUR_SERVICE}, but it is not running (see its status and log)`);
    servicesChanged = true;
  } else if (filesChanged) {
    manager.restart(OUR_SERVICE);
    lines.push(`restarted ${OUR_SERVICE} with the new files`);
    servicesChanged = true;
  }
  return { lines, changed: filesChanged || servicesChanged };
}

function enableHint(init: InitSystem): string {
  if (init === "systemd") return "systemctl enable xen-guest-agent.service (or: systemctl --root=<prefix> enable xen-guest-agent.service)";
  if (init === "openrc") return "rc-update add xen-guest-agent default";
  return "update-rc.d xen-guest-agent defaults (or: chkconfig --add xen-guest-agent)";
}

export function uninstall(prefix: string): Outcome {
  const manifest = readManifest(prefix);
  if (!manifest) return { lines: [`nothing to uninstall: no ${join(prefix, MANIFEST_PATH)} (written by \`xen-guest-agent install\`)`], changed: false };
  const live = prefix === "/";
  const manager: ServiceManager = serviceManager(manifest.init, prefix);
  const lines: string[] = [];
  if (live) {
    if (manager.active(OUR_SERVICE)) {
      manager.stop(OUR_SERVICE);
      lines.push(`stopped ${OUR_SERVICE}`);
    }
    if (manager.enabled(OUR_SERVICE)) {
      manager.disable(OUR_SERVICE);
      lines.push(`disabled ${OUR_SERVICE}`);
    }
  }
  for (const [path, sum] of Object.entries(manifest.files)) {
    const target = join(prefix, path);
    const onDisk = fileSha(target);
    if (onDisk === undefined) continue;
    if (onDisk !== sum) {
      lines.push(`kept ${target}: changed since install (remove it by hand if it is not needed)`);
      continue;
    }
    rmSync(target);
    lines.push(`removed ${target}`);
  }
  if (!live) {
    // Links made in the image as the install hint said (systemctl --root, rc-update, update-rc.d).
    for (const link of manager.links(OUR_SERVICE)) {
      rmSync(link);
      lines.push(`removed ${link}`);
      try {
        rmdirSync(dirname(link)); // the .wants/runlevel directory, when that link was all it held
      } catch {
        // not empty: other services are enabled there
      }
    }
  }
  if (live) {
    manager.forget(OUR_SERVICE);
    manager.reload();
    // Only what install did is undone: a service that was already off stays off.
    if (manifest.xeLinuxDistribution.disabled && manager.present(XE_SERVICE)) {
      manager.enable(XE_SERVICE);
      lines.push(`enabled ${XE_SERVICE} again`);
    }
    if (manifest.xeLinuxDistribution.stopped && manager.present(XE_SERVICE)) {
      manager.start(XE_SERVICE);
      lines.push(`started ${XE_SERVICE} again`);
    }
  }
  rmSync(join(prefix, MANIFEST_PATH));
  for (const d of [...manifest.dirs].reverse()) {
    try {
      rmdirSync(join(prefix, d)); // only when empty: something else may have put files there since
    } catch {
      // not empty or already gone: leave it
    }
  }
  lines.push(`removed ${join(prefix, MANIFEST_PATH)}`);
  return { lines, changed: true };
}
