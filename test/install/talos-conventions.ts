// siderolabs' system-extension checks, ported from their source because the validator cannot be
// built here (it needs Go >= 1.26; Debian 12 has 1.19). What siderolabs/extensions runs on every
// extension (pkg.yaml `test:` step: `extensions-validator validate --rootfs=… --pkg-name=…`):
//   - siderolabs/extensions-validator@84cecb0 cmd/extensions-validator/cmd/validate.go: the name
//     matches the package, the version is one of five shapes, every
//     rootfs/usr/local/etc/containers/*.yaml is a valid service spec, then Talos' own checks;
//   - siderolabs/talos pkg/machinery/extensions: load.go (the tree holds exactly manifest.yaml and
//     rootfs/, manifest version v1alpha1), validate.go (the Talos version constraint; no
//     world-writable or special files; every file under an allowed path, extensions.go);
//   - …/extensions/services/services.go: name [-_a-z0-9]+, restart always|never|untilSuccess, an
//     entrypoint, each dependency exactly one of service, absolute path, network statuses
//     (nethelpers/status.go), time. Its comment: the container root is /usr/local/lib/containers/<name>;
//   - siderolabs/extensions README.md's manifest format: name, version, author, description.
// Returns the problems found, in the validator's words where it has them; [] means it would pass.
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** talos pkg/machinery/extensions/extensions.go AllowedPaths: files may only be under these. */
const ALLOWED_PATHS = [
  "/etc/cri/conf.d", "/lib/firmware", "/lib/modules", "/lib64/ld-linux-x86-64.so.2", "/sbin/ldconfig", "/usr/lib/udev/rules.d",
  "/usr/local", "/usr/share/glvnd", "/usr/share/egl", "/etc/vulkan",
];

/** validate.go's five accepted version shapes (semver, yyyymmdd, two build-arg forms, partial semver). */
const VERSION_SHAPES = [
  /^v?(\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)$/,
  /^\d{8}(\.\d)?$/,
  /^(\d+\.\d+\.\d+)-v(\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)(-(\d+)-g([0-9a-f]+)(-dirty)?)?$/,
  /^([0-9a-f]+)-v(\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)(-(\d+)-g([0-9a-f]+)(-dirty)?)?$/,
  /^v?(\d+\.\d+)$/,
];

const RESTART_KINDS = ["always", "never", "untilSuccess"];
const NETWORK_STATUSES = ["addresses", "connectivity", "hostname", "etcfiles"];
const SERVICE_NAME = /^[-_a-z0-9]{1,}$/;

type Version = [number, number, number];

function parseVersion(v: string): Version | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/**
 * blang/semver ranges as Talos uses them: space-separated comparisons that must all hold (the
 * `||` form is not used by any extension and is reported as unsupported here).
 */
function satisfies(constraint: string, talos: Version): string | undefined {
  const trimmed = constraint.replace(/v(?=\d)/g, ""); // validate.go's trim()
  if (trimmed.includes("||")) return `constraint ${constraint}: "||" is not supported by this port`;
  const parts = trimmed.replace(/(>=|<=|!=|>|<|=)\s+/g, "$1").trim().split(/\s+/);
  for (const part of parts) {
    const m = /^(>=|<=|!=|>|<|=)?(.+)$/.exec(part);
    const version = m?.[2] !== undefined ? parseVersion(m[2]) : undefined;
    if (!m || !version) return `error parsing Talos version constraint: ${constraint}`;
    const c = compare(talos, version);
    const ok = { ">=": c >= 0, "<=": c <= 0, "!=": c !== 0, ">": c > 0, "<": c < 0, "=": c === 0 }[m[1] ?? "="];
    if (!ok) return `version constraint ${constraint} can't be satisfied with Talos version ${talos.join(".")}`;
  }
  return undefined;
}

function serviceProblems(file: string, spec: any): string[] {
  const problems: string[] = [];
  const at = `service spec ${file}`;
  if (typeof spec?.name !== "string" || !SERVICE_NAME.test(spec.name)) problems.push(`${at}: name ${JSON.stringify(spec?.name)} is invalid`);
  if (!RESTART_KINDS.includes(spec?.restart)) problems.push(`${at}: restart kind is invalid: ${spec?.restart}`);
  if (!spec?.container?.entrypoint) problems.push(`${at}: container endpoint can't be empty`);
  for (const dep of spec?.depends ?? []) {
    let set = 0;
    if (dep.service) set++;
    if (dep.path) {
      set++;
      if (!String(dep.path).startsWith("/")) problems.push(`${at}: path is not absolute: ${JSON.stringify(dep.path)}`);
    }
    if (Array.isArray(dep.network) && dep.network.length > 0) {
      set++;
      for (const s of dep.network) if (!NETWORK_STATUSES.includes(s)) problems.push(`${at}: invalid network dependency: ${s}`);
    }
    if (dep.time) set++;
    if (set === 0) problems.push(`${at}: no dependency specified`);
    if (set > 1) problems.push(`${at}: more than a single dependency is set`);
  }
  return problems;
}

/** Files outside the allowed paths, world-writable entries and special files under rootfs/. */
function contentProblems(rootfs: string): string[] {
  const problems: string[] = [];
  const walk = (rel: string) => {
    const path = join(rootfs, rel);
    const st = lstatSync(path);
    const item = `/${rel}`;
    // Stricter than upstream: Go's fs.DirEntry.Type() has no permission bits, so its 0o002 test
    // never fires; the intent (no world-writable entries) is checked on the real mode here.
    if (st.mode & 0o002) problems.push(`world-writeable files are not allowed: "${item}"`);
    if (st.isDirectory()) {
      for (const e of readdirSync(path).sort()) walk(rel ? `${rel}/${e}` : e);
      return;
    }
    if (!st.isFile() && !st.isSymbolicLink()) problems.push(`special files are not allowed: "${item}"`);
    else if (!ALLOWED_PATHS.some((p) => item.startsWith(p))) problems.push(`path "${item}" is not allowed in extensions`);
  };
  walk("");
  return problems;
}

/** Every problem siderolabs' validator (and Talos' loader) would report for the extension tree `dir`. */
export function extensionProblems(dir: string, opts: { pkgName: string; talosVersion: string }): string[] {
  const problems: string[] = [];
  for (const e of readdirSync(dir)) if (e !== "manifest.yaml" && e !== "rootfs") problems.push(`unexpected file "${e}"`);
  if (!existsSync(join(dir, "manifest.yaml"))) return [...problems, "extension manifest is missing"];
  if (!existsSync(join(dir, "rootfs"))) return [...problems, "extension rootfs is missing"];
  const manifest = Bun.YAML.parse(readFileSync(join(dir, "manifest.yaml"), "utf8")) as any;
  if (manifest?.version !== "v1alpha1") problems.push(`unsupported manifest version: "${manifest?.version}"`);
  const meta = manifest?.metadata ?? {};
  for (const field of ["name", "version", "author", "description"]) if (typeof meta[field] !== "string" || meta[field] === "") problems.push(`metadata.${field} is empty`);
  if (meta.name !== opts.pkgName) problems.push(`pkg name does not match extension name: ${opts.pkgName} != ${meta.name}`);
  if (!VERSION_SHAPES.some((re) => re.test(String(meta.version)))) problems.push(`invalid version format ${meta.version} for extension: ${meta.name}`);

  const specDir = join(dir, "rootfs/usr/local/etc/containers");
  const specs = existsSync(specDir) ? readdirSync(specDir).filter((f) => f.endsWith(".yaml")) : [];
  for (const file of specs) {
    const spec = Bun.YAML.parse(readFileSync(join(specDir, file), "utf8")) as any;
    problems.push(...serviceProblems(file, spec));
    // services.go: the container root of service <name> is /usr/local/lib/containers/<name>.
    const entrypoint = String(spec?.container?.entrypoint ?? "").replace(/^\.\//, "");
    if (typeof spec?.name === "string" && !existsSync(join(dir, "rootfs/usr/local/lib/containers", spec.name, entrypoint))) {
      problems.push(`service spec ${file}: no entrypoint ${entrypoint} in /usr/local/lib/containers/${spec.name}/`);
    }
  }

  const talos = parseVersion(opts.talosVersion);
  const constraint = meta.compatibility?.talos?.version;
  if (!talos) problems.push(`bad Talos version ${opts.talosVersion}`);
  else if (constraint) {
    const why = satisfies(String(constraint), talos);
    if (why) problems.push(why);
  }
  return [...problems, ...contentProblems(join(dir, "rootfs"))];
}
