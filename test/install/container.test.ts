// Containers and Kubernetes, without a container engine:
// - deploy/kubernetes/daemonset.yaml is checked against the Kubernetes OpenAPI schema compiled into
//   the npm package kubernetes-models (offline), plus the settings the agent depends on;
// - deploy/container/Containerfile's builder step is run here (this machine is Debian 12, the
//   builder stage's base) into a directory, which then is the image root: it must hold only the
//   binary and its C library, and run the ENTRYPOINT with the image's ENV against a host root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { DIST, REPO, chrootUnavailable, devNull, inChroot, releaseBinary, removeTree, skipped, tempDir } from "./support.ts";

const FIXTURE = join(REPO, "test/fixtures/root-container");
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

describe("deploy/kubernetes/daemonset.yaml", () => {
  const docs = Bun.YAML.parse(readFileSync(join(REPO, "deploy/kubernetes/daemonset.yaml"), "utf8")) as Record<string, any>[];

  test("every document is valid against the Kubernetes schema (kubernetes-models)", () => {
    expect(docs.map((d) => d.kind)).toEqual(["Namespace", "DaemonSet"]);
    new Namespace(docs[0] as never).validate();
    new DaemonSet(docs[1] as never).validate();
  });

  test("the schema check catches a wrong type (it is not a no-op)", () => {
    const broken = structuredClone(docs[1]) as Record<string, any>;
    broken.spec.template.spec.hostNetwork = "yes";
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/hostNetwork must be boolean/);
  });

  test("host network, the host root read-only at /host, the measured resources, Xen nodes only", () => {
    const pod = (docs[1] as any).spec.template.spec;
    const [c] = pod.containers;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.hostPID).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(c.args).toEqual(["run", "--stderr", "--root", "/host"]);
    expect(c.resources).toEqual({ requests: { cpu: "5m", memory: "40Mi" }, limits: { memory: "64Mi" } });
    expect(c.securityContext).toMatchObject({ runAsUser: 0, readOnlyRootFilesystem: true });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key).toBe("xen-guest-agent/xen");
    expect((docs[0] as any).metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
  });

  test("the node's root is recursively read-only at /host; only the two sysfs targets the agent writes are writable", () => {
    const pod = (docs[1] as any).spec.template.spec;
    const [c] = pod.containers;
    const sources = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v.hostPath]));
    const mounts = (c.volumeMounts as any[]).map((m) => ({ ...m, host: sources.get(m.name) }));
    // A plain readOnly bind leaves /host/sys, /host/var, /host/run… writable; recursiveReadOnly
    // (which Kubernetes only accepts with propagation None) makes every sub-mount read-only too.
    expect(mounts[0]).toEqual({ name: "host-root", mountPath: "/host", readOnly: true, recursiveReadOnly: "Enabled", mountPropagation: "None", host: { path: "/", type: "Directory" } });
    const writable = mounts.filter((m) => m.readOnly !== true);
    expect(writable.map((m) => [m.host, m.mountPath])).toEqual([
      [{ path: "/sys/devices/system/cpu", type: "Directory" }, "/host/sys/devices/system/cpu"],
      [{ path: "/sys/power/pm_freeze_timeout", type: "File" }, "/host/sys/power/pm_freeze_timeout"],
    ]);
    // Each writable bind puts the node's own path at the place the agent writes it under --root.
    for (const m of writable) expect(m.mountPath).toBe(`/host${m.host.path}`);
    expect(mounts).toHaveLength(3);
    // Every volume is mounted (no dead volume) and no other writable host path exists.
    expect(new Set(mounts.map((m) => m.name))).toEqual(new Set(sources.keys()));
  });

  test("the schema check knows recursiveReadOnly (a misspelt value type is caught)", () => {
    const broken = structuredClone(docs[1]) as Record<string, any>;
    broken.spec.template.spec.containers[0].volumeMounts[0].recursiveReadOnly = true;
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/recursiveReadOnly must be string/);
  });
});

interface RecipeMount {
  src: string;
  dst: string;
  options: string[];
}

/** `docker run` / `podman run` commands in a text (shell blocks or `#` comments), continuations joined. */
function runCommands(text: string, engine: "docker" | "podman"): string[] {
  const joined = text.split("\n").map((l) => l.replace(/^#\s?/, "")).join("\n").replace(/\\\n\s*/g, " ");
  return joined.split("\n").map((l) => l.trim()).filter((l) => l.startsWith(`${engine} run `));
}

/** The bind mounts of one command: `--mount type=bind,src=,dst=,…` and `-v src:dst:opts`. */
function bindMounts(command: string): RecipeMount[] {
  const words = command.split(/\s+/);
  const out: RecipeMount[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === "--mount") {
      const kv = (words[++i] as string).split(",");
      const get = (k: string) => kv.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1) ?? "";
      expect(get("type")).toBe("bind");
      out.push({ src: get("src"), dst: get("dst"), options: kv.filter((o) => !/^(type|src|dst)=/.test(o)) });
    } else if (words[i] === "-v") {
      const [src, dst, opts] = (words[++i] as string).split(":") as [string, string, string | undefined];
      out.push({ src, dst, options: opts ? opts.split(",") : [] });
    }
  }
  return out;
}

/** The only host paths the agent writes, each bound at its own path under /host. */
const WRITTEN = ["/sys/devices/system/cpu", "/sys/power/pm_freeze_timeout"];

describe("container run recipes (docs/install.md, the Containerfile's header)", () => {
  const docs = readFileSync(join(REPO, "docs/install.md"), "utf8");
  const header = readFileSync(join(REPO, "deploy/container/Containerfile"), "utf8").split("\nFROM ")[0] as string;
  const readOnly = (m: RecipeMount) => m.options.includes("readonly") || m.options.includes("ro");

  test("each recipe is given once in the docs; the Containerfile repeats the Docker one", () => {
    expect(runCommands(docs, "docker")).toHaveLength(1);
    expect(runCommands(docs, "podman")).toHaveLength(1);
    expect(runCommands(header, "docker")).toEqual(runCommands(docs, "docker"));
    expect(runCommands(header, "podman")).toEqual([]);
  });

  test("Docker: the host root recursively read-only, required (bind-recursive=readonly), no propagation", () => {
    const mounts = bindMounts(runCommands(docs, "docker")[0] as string);
    expect(mounts[0]).toEqual({ src: "/", dst: "/host", options: ["readonly", "bind-recursive=readonly"] });
  });

  test("Podman (no recursive read-only bind): only /, /proc, /sys, /dev, each read-only and non-recursive", () => {
    const mounts = bindMounts(runCommands(docs, "podman")[0] as string);
    const ro = mounts.filter(readOnly);
    expect(ro.map((m) => m.src)).toEqual(["/", "/proc", "/sys", "/dev"]);
    for (const m of ro) {
      expect(m.dst).toBe(m.src === "/" ? "/host" : `/host${m.src}`);
      expect(m.options).toEqual(["ro", "bind"]); // `bind`, not the default `rbind`: no sub-mounts
    }
  });

  test("in every recipe the only writable binds are the two sysfs targets the agent writes", () => {
    for (const engine of ["docker", "podman"] as const) {
      const mounts = bindMounts(runCommands(docs, engine)[0] as string);
      const writable = mounts.filter((m) => !readOnly(m));
      expect(writable.map((m) => [m.src, m.dst])).toEqual(WRITTEN.map((p) => [p, `/host${p}`]));
      // Nothing outside /host, and no propagation that would bring later host mounts in writable.
      for (const m of mounts) expect(m.dst === "/host" || m.dst.startsWith("/host/")).toBe(true);
      for (const m of mounts) expect(m.options.some((o) => /(slave|shared)$/.test(o))).toBe(false);
    }
  });
});

/** The Containerfile as instructions (continuation lines joined, comments dropped). */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => ({ op: (l.split(/\s+/, 1)[0] as string).toUpperCase(), args: l.slice(l.indexOf(" ") + 1).trim() }));
}

describe("deploy/container/Containerfile", () => {
  const why = process.arch !== "x64" ? "the builder step is run for amd64 only" : chrootUnavailable();
  if (why) skipped("container image root", why);
  const file = instructions(readFileSync(join(REPO, "deploy/container/Containerfile"), "utf8"));
  let image = "";

  beforeAll(async () => {
    if (why) return;
    await releaseBinary("linux-x64-baseline");
    // Stage 1's RUN, with its bind-mounted build context (dist/) and output (/rootfs) moved to
    // temporary paths; then stage 2's `COPY --from=libc /rootfs/ /` makes that the image root.
    image = tempDir("image");
    dirs.push(image);
    const run = file.find((i) => i.op === "RUN");
    const script = (run?.args ?? "").replace(/^--mount=\S+\s+/, "").replaceAll("/dist/", `${DIST}/`).replaceAll("/rootfs", image);
    const r = Bun.spawnSync(["sh", "-c", script], { env: { ...process.env, TARGETARCH: "amd64" }, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`Containerfile RUN failed:\n${r.stderr}`);
  }, 300_000);

  test.skipIf(why !== undefined)("an ldd failure (a builder of another architecture without QEMU) fails the build", () => {
    const run = file.find((i) => i.op === "RUN");
    const out = tempDir("image-bad");
    dirs.push(out);
    const fakeDist = tempDir("dist-bad");
    dirs.push(fakeDist);
    Bun.write(join(fakeDist, "xen-guest-agent-linux-x64-baseline"), "not an ELF file\n");
    const script = (run?.args ?? "").replace(/^--mount=\S+\s+/, "").replaceAll("/dist/", `${fakeDist}/`).replaceAll("/rootfs", out);
    const r = Bun.spawnSync(["sh", "-c", script], { env: { ...process.env, TARGETARCH: "amd64" }, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain("binfmt/QEMU");
  });

  test("two stages: a Debian 12 builder and FROM scratch, which copies only the builder's /rootfs", () => {
    expect(file.filter((i) => i.op === "FROM").map((i) => i.args)).toEqual(["docker.io/library/debian:bookworm-slim AS libc", "scratch"]);
    expect(file.filter((i) => i.op === "COPY").map((i) => i.args)).toEqual(["--from=libc /rootfs/ /"]);
  });

  test.skipIf(why !== undefined)("the image holds the binary, the loader and libc's four libraries, and nothing else", () => {
    const files: string[] = [];
    const walk = (rel: string) => {
      for (const e of readdirSync(join(image, rel))) {
        const p = `${rel}/${e}`;
        if (statSync(join(image, p)).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk("");
    expect(files.sort()).toEqual([
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/lib/x86_64-linux-gnu/libdl.so.2",
      "/lib/x86_64-linux-gnu/libm.so.6",
      "/lib/x86_64-linux-gnu/libpthread.so.0",
      "/lib64/ld-linux-x86-64.so.2",
      "/usr/sbin/xen-guest-agent",
    ]);
    const size = files.reduce((n, f) => n + statSync(join(image, f)).size, 0);
    console.log(`image root: ${(size / 2 ** 20).toFixed(1)} MiB in ${files.length} files`);
  });

  test.skipIf(why !== undefined)("ENTRYPOINT with the image's ENV reads the host mounted at /host; CMD runs the daemon", () => {
    cpSync(FIXTURE, join(image, "host"), { recursive: true });
    devNull(image);
    mkdirSync(join(image, "proc"), { recursive: true });
    const env = Object.fromEntries(
      file.filter((i) => i.op === "ENV").map((i) => i.args.split("=", 2) as [string, string]),
    );
    expect(env).toEqual({ XEN_GUEST_AGENT_ROOT: "/host", BUN_GC_TIMER_DISABLE: "1" });
    const entrypoint = JSON.parse(file.find((i) => i.op === "ENTRYPOINT")?.args ?? "[]") as string[];
    const cmd = JSON.parse(file.find((i) => i.op === "CMD")?.args ?? "[]") as string[];
    expect(cmd).toEqual(["run", "--stderr"]);

    const collected = inChroot(image, [...entrypoint, "collect", "--json"], env);
    expect(collected.code).toBe(0);
    expect(JSON.parse(collected.stdout).facts.os.id).toBe("fixturelinux");
    // The fixture host says Xen but has no xenbus device: the daemon explains and exits 1.
    const daemon = inChroot(image, [...entrypoint, ...cmd], env);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain("xenbus");
  });
});
