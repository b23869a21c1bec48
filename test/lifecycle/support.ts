// A supervised agent against the in-process xenstored (test/xenstore/server), with a fixture host
// root, a recording sd_notify, an injectable clock-jump source, and the check every fault test ends
// with: the guest's tree holds exactly what the agent's facts say it should.
import { requestTypes } from "../../src/requests/registry.ts";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TreeBuilder } from "../../src/schema/index.ts";
import { resolveConfig } from "../../src/config/options.ts";
import type { LoadedConfig } from "../../src/config/file.ts";
import type { Logger } from "../../src/log/logger.ts";
import type { PublishTarget } from "../../src/publish/publisher.ts";
import { clientLink, defaultConnector } from "../../src/lifecycle/links.ts";
import { ReloadableLogger } from "../../src/log/reloadable.ts";
import { Supervisor, type SupervisorOptions } from "../../src/lifecycle/supervisor.ts";
import type { Link } from "../../src/lifecycle/links.ts";
import type { Notifier } from "../../native/sd-notify.ts";
import { makeDomain } from "../xenstore/server/domain.ts";
import { TestXenstored, type TestServerOptions } from "../xenstore/server/server.ts";
import { Store, type Node } from "../xenstore/server/store.ts";
import { socketClient } from "../xenstore/helpers.ts";

export const DOMID = 5;
export const HOME = `/local/domain/${DOMID}`;

/** A Logger that keeps its lines (and can echo them with XGA_TEST_LOG=1). */
export function collectingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const echo = process.env.XGA_TEST_LOG === "1";
  const make = (tag: string): Logger => {
    const at = (level: string) => (message: unknown) => {
      const text = tag ? `${tag}: ${String(message)}` : String(message);
      lines.push({ level, message: text });
      if (echo) console.log(`[${level}] ${text}`);
    };
    return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug"), withTag: (t) => make(tag ? `${tag}:${t}` : t) };
  };
  return Object.assign(make(""), { lines });
}

/** A host root with the files the collectors read. */
export class FixtureRoot {
  readonly dir = mkdtempSync(join(tmpdir(), "xga-lcroot-"));

  constructor(files: Record<string, string> = {}) {
    this.write({
      "etc/os-release": 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
      "proc/meminfo": "MemTotal:        2048000 kB\nMemFree:          512000 kB\nMemAvailable:    1024000 kB\n",
      "proc/sys/kernel/hostname": "guest5\n",
      "sys/hypervisor/type": "xen\n",
      "sys/power/pm_freeze_timeout": "20000\n",
      ...files,
    });
  }

  write(files: Record<string, string | Uint8Array>): void {
    for (const [rel, text] of Object.entries(files)) {
      const p = join(this.dir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RecordingNotifier extends Notifier {
  messages: string[];
  /** Resolves once a message matching `re` was sent (already, or later). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

export function recordingNotifier(): RecordingNotifier {
  const messages: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve(): void }>();
  return {
    active: true,
    messages,
    notify(m) {
      messages.push(m);
      for (const w of [...waiters]) if (w.re.test(m)) (waiters.delete(w), w.resolve());
      return true;
    },
    close() {},
    waitFor(re, ms = 5000) {
      if (messages.some((m) => re.test(m))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { re, resolve: () => (clearTimeout(timer), resolve()) };
        const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`no notification matching ${re} within ${ms} ms`))), ms);
        waiters.add(w);
      });
    },
  };
}

export interface HarnessOptions {
  cli?: Record<string, unknown>;
  server?: TestServerOptions;
  /** Called on every link the agent opens: wrap its target to inject faults. */
  wrapTarget?: (target: PublishTarget) => PublishTarget;
  /** unique-domain-id written before the agent starts (XAPI host); undefined: plain xl. */
  uniqueDomainId?: string;
  supervisor?: Partial<SupervisorOptions>;
  root?: FixtureRoot;
  /** Keep libxl's read-only control/ (then control/feature-* are refused, and not expected). */
  xlControl?: boolean;
}

export class Harness {
  readonly log = collectingLogger();
  readonly notifier = recordingNotifier();
  readonly root: FixtureRoot;
  srv!: TestXenstored;
  sup!: Supervisor;
  guestPath!: string;
  /** The clock-jump callback the supervisor registered. */
  jump: (() => void) | undefined;
  cli: Record<string, unknown>;
  private listeners = new Set<() => void>();
  connects = 0;
  /** Connection attempts that fail before the real connector is used. */
  failConnects = 0;

  constructor(private readonly opts: HarnessOptions = {}) {
    this.root = opts.root ?? new FixtureRoot();
    this.cli = { root: this.root.dir, loglevel: "debug", "memory-interval": 3600, ...opts.cli };
  }

  loaded(): LoadedConfig {
    const r = resolveConfig({ cli: this.cli, env: {} });
    return { ...r, file: { path: "(test)", explicit: false, found: false, values: {} } };
  }

  async start(opts: { waitForWatches?: boolean } = {}): Promise<this> {
    this.srv = await TestXenstored.start(this.opts.server);
    this.guestPath = this.srv.addGuest(DOMID);
    // XAPI makes the whole control/ tree guest-writable (xenopsd); plain xl does not.
    if (!this.opts.xlControl) this.srv.mutate((c) => this.srv.store.setPerms(`${HOME}/control`, [{ kind: "n", domid: DOMID }], 0, c));
    if (this.opts.uniqueDomainId) this.dom0Write("unique-domain-id", this.opts.uniqueDomainId);
    await this.startAgent(opts);
    return this;
  }

  /** A restart: the agent stops (SIGTERM) and a new one starts on the same domain tree. */
  async restartAgent(opts: { waitForWatches?: boolean } = {}): Promise<void> {
    await this.sup.stop();
    await this.startAgent(opts);
  }

  private async startAgent(opts: { waitForWatches?: boolean }): Promise<void> {
    const connect = defaultConnector({ XENSTORED_PATH: this.guestPath });
    const wrap = this.opts.wrapTarget;
    this.sup = new Supervisor({
      loaded: this.loaded(),
      reload: () => this.loaded(),
      log: new ReloadableLogger(this.log),
      connect: async (config, log) => {
        if (this.failConnects > 0) {
          this.failConnects--;
          throw new Error("connect refused (test)");
        }
        const link = await connect(config, log);
        this.connects++;
        const inner = wrap ? wrap(link.target) : link.target;
        // Every settled request re-checks the waiters: convergence is seen when it happens.
        const target: PublishTarget = {
          name: inner.name,
          write: (p, v) => inner.write(p, v).finally(() => queueMicrotask(() => this.changed())),
          rm: (p) => inner.rm(p).finally(() => queueMicrotask(() => this.changed())),
        };
        return { ...link, target, onLost: link.onLost, close: link.close };
      },
      notifier: this.notifier,
      clockJumps: (onJump) => {
        this.jump = onJump;
        return { close: () => (this.jump = undefined) };
      },
      settleMs: 20,
      backoff: { initialMs: 10, maxMs: 200 },
      ...this.opts.supervisor,
    });
    this.sup.events.published = () => this.changed();
    this.sup.events.republished = () => this.changed();
    const watching = Promise.all([this.next("watching", 10_000), this.next("watchingKeys", 10_000)]);
    await this.sup.start();
    // Triggers (and changes by dom0) are only meaningful once the watches' own first events are behind.
    if (opts.waitForWatches !== false) await watching;
    else watching.catch(() => {});
  }

  /** Migration: a fresh domain tree (XAPI's writable control/), watches fire. */
  replaceDomain(): void {
    this.srv.replaceDomain(DOMID);
    if (!this.opts.xlControl) this.srv.mutate((c) => this.srv.store.setPerms(`${HOME}/control`, [{ kind: "n", domid: DOMID }], 0, c));
  }

  /** Writes a node as the toolstack (dom0) would; watches fire. */
  dom0Write(rel: string, value: string): void {
    this.srv.mutate((c) => this.srv.store.write(`${HOME}/${rel}`, value, 0, c));
  }

  /** Fires a watch event for `rel` without changing the store (what resume's re-registration does). */
  fireWatch(rel: string): void {
    const node: Node = { value: "", perms: [{ kind: "n", domid: DOMID }], children: new Map(), gen: 0 };
    this.srv.mutate((c) => c.push({ path: `${HOME}/${rel}`, node, removed: false }));
  }

  /**
   * Removes every node a fresh domain does not have: the agent's keys, as after a migration (no
   * watch fires). `{ byDom0: true }`: removed by a dom0 tool instead, so watches fire.
   */
  wipeGuestKeys(opts: { byDom0?: boolean } = {}): void {
    const skeleton = skeletonPaths();
    const doomed: string[] = [];
    const walk = (node: Node, rel: string): void => {
      if (rel && !skeleton.has(rel) && rel !== "unique-domain-id") {
        doomed.push(rel);
        return;
      }
      for (const [name, child] of node.children) walk(child, rel ? `${rel}/${name}` : name);
    };
    const home = this.srv.store.lookup(HOME);
    if (home) walk(home, "");
    for (const rel of doomed) {
      if (opts.byDom0) this.srv.wipe(`${HOME}/${rel}`);
      else this.srv.vanish(`${HOME}/${rel}`);
    }
  }

  /** The tree the agent's current facts call for (an independent build), with the heartbeat. */
  truth(): Map<string, string> {
    const daemon = this.sup.current;
    if (!daemon) throw new Error("no daemon");
    return new TreeBuilder(this.sup.config).build(daemon.pipeline.snapshot());
  }

  /** The agent's keys in the store (see publishedKeys). */
  published(leaves?: Set<string>): Map<string, string> {
    return publishedKeys(this.srv, leaves);
  }

  /** Differences between the store and the truth, as readable lines (empty when equal). */
  diff(): string[] {
    return treeDiff(this.srv, this.truth(), this.sup.config.schema);
  }

  /** Resolves once the store equals the truth; rejects after `ms` with the remaining difference. */
  converged(ms = 5000, what = "tree equal to the truth"): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.diff().length > 0 || this.sup.current === undefined) return false;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`${what}: not within ${ms} ms; differences:\n  ${this.diff().slice(0, 20).join("\n  ")}`));
      }, ms);
      this.listeners.add(listener);
      check();
    });
  }

  /** Resolves on the next supervisor event matching `pred`. */
  next<K extends "reconnected" | "republished" | "reloaded" | "published" | "watching" | "watchingKeys" | "clockStepChecked">(kind: K, ms = 5000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const prev = this.sup.events[kind] as ((...a: unknown[]) => void) | undefined;
      const timer = setTimeout(() => {
        (this.sup.events as Record<string, unknown>)[kind] = prev;
        reject(new Error(`no '${kind}' within ${ms} ms`));
      }, ms);
      (this.sup.events as Record<string, unknown>)[kind] = (...a: unknown[]) => {
        prev?.(...a);
        clearTimeout(timer);
        (this.sup.events as Record<string, unknown>)[kind] = prev;
        resolve(a[0]);
      };
    });
  }

  /** Re-checks waiters when the store changes underneath (the server's own writes). */
  changed(): void {
    for (const l of [...this.listeners]) l();
  }

  errors(): string[] {
    return this.log.lines.filter((l) => l.level === "error").map((l) => l.message);
  }

  async stop(): Promise<void> {
    await this.sup?.stop();
    await this.srv?.stop();
    if (!this.opts.root) this.root.remove();
  }
}

let skeleton: Set<string> | undefined;
/** Every path a fresh domain has (relative), so they are not taken for the agent's. */
function skeletonPaths(): Set<string> {
  if (skeleton) return skeleton;
  const store = new Store();
  makeDomain(store, DOMID, `guest${DOMID}`);
  const out = new Set<string>();
  const walk = (node: Node, rel: string): void => {
    out.add(rel);
    for (const [name, child] of node.children) walk(child, rel ? `${rel}/${name}` : name);
  };
  walk(store.lookup(HOME) as Node, "");
  skeleton = out;
  return out;
}

/** A link over a client the test made itself (dom0 view with a base path). */
export function dom0Link(srv: TestXenstored): Link {
  return clientLink(socketClient(srv.dom0SocketPath), HOME);
}

/**
 * The agent's keys in the store: every node under the domain that a fresh domain does not have.
 * Leaves are reported in `leaves` (an inner node is implied by its children; a leaf is not).
 */
export function publishedKeys(srv: TestXenstored, leaves?: Set<string>): Map<string, string> {
  const skeleton = skeletonPaths();
  const out = new Map<string, string>();
  const home = srv.store.lookup(HOME);
  if (!home) return out;
  const walk = (node: Node, rel: string): void => {
    if (rel && !skeleton.has(rel) && rel !== "unique-domain-id") {
      out.set(rel, node.value);
      if (node.children.size === 0) leaves?.add(rel);
    }
    for (const [name, child] of node.children) walk(child, rel ? `${rel}/${name}` : name);
  };
  walk(home, "");
  return out;
}

/** Differences between the store and the wanted tree, as readable lines (empty when equal). */
const REQUEST_FEATURE_KEYS = new Set(requestTypes({ describe: () => [] }).flatMap((t) => [t.feature, ...(t.featureFallback ? [t.featureFallback] : [])]));

export function treeDiff(srv: TestXenstored, want: Map<string, string>, schema: string): string[] {
  const leaves = new Set<string>();
  const have = publishedKeys(srv, leaves);
  const lines: string[] = [];
  for (const [k, v] of want) if (have.get(k) !== v) lines.push(`missing/wrong ${k}: want ${JSON.stringify(v)}, have ${JSON.stringify(have.get(k))}`);
  for (const [k, v] of have) {
    if (k === "data/updated") continue;
    // The request channel's feature keys are not facts (test/requests checks them).
    if (REQUEST_FEATURE_KEYS.has(k)) continue;
    // An inner node with an empty value is the implicit parent of wanted keys.
    if (!want.has(k) && (leaves.has(k) || v !== "")) lines.push(`extra ${k} = ${JSON.stringify(v)}`);
  }
  if (schema === "std" && !have.has("data/updated")) lines.push("missing data/updated");
  return lines;
}

/** XAPI's writable control/ on a domain the test server made (libxl's is read-only). */
export function xapiControl(srv: TestXenstored): void {
  srv.mutate((c) => srv.store.setPerms(`${HOME}/control`, [{ kind: "n", domid: DOMID }], 0, c));
}
