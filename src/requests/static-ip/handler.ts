// The static-ip request type (protocol.ts) for the channel: finds the pending settings, plans them
// against the current state (plan.ts), applies the plan through NetConfig, answers the way the
// Windows agents do. Error codes in error-code (README "Host requests"):
//   0 done   1 bad input   2 no interface with that MAC   3 the kernel refused
//   4 disabled in the configuration   5 not written by dom0   6 internal error
import type { HostRoot } from "../../collectors/host-root.ts";
import type { Logger } from "../../log/logger.ts";
import { isXenstoreCode } from "../../xenstore/errors.ts";
import type { FailureReason, Outcome, PendingRequest, RequestType } from "../types.ts";
import { detectManagers } from "./managers.ts";
import { describeAction, type NetConfig } from "./net-config.ts";
import { applied, planFamily, type Action } from "./plan.ts";
import { describeFamily, FEATURE_KEY, FEATURE_KEY_FALLBACK, parseSetting, readSetting, settingDir, VIF_DIR, type RawSetting, type StaticIpRequest } from "./protocol.ts";

export const ERROR_CODES: Record<FailureReason, number> = { malformed: 1, "not-found": 2, refused: 3, denied: 4, forged: 5, internal: 6 };

export interface StaticIpDeps {
  net: NetConfig;
  root: HostRoot;
  log: Logger;
}

/** Carries out one VIF's request: plan every family first (bad input changes nothing), then apply. */
export function carryOut(request: StaticIpRequest, deps: StaticIpDeps): Outcome {
  let state = deps.net.state();
  const actions: Action[] = [];
  const summaries: string[] = [];
  let ifname = "";
  let ifindex = 0;
  for (const family of request.families) {
    const plan = planFamily(request.mac, family, state);
    if (!plan.ok) return { ok: false, reason: plan.reason, message: plan.message };
    actions.push(...plan.actions);
    summaries.push(`${family.family}: ${plan.summary}`);
    state = applied(state, plan.actions);
    ifname = plan.link.name;
    ifindex = plan.link.ifindex;
  }
  const done: Action[] = [];
  for (const action of actions) {
    try {
      deps.net.apply(action);
      done.push(action);
    } catch (e) {
      // Undo what this request did, newest first, so a refusal leaves things as they were.
      for (const a of done.reverse()) {
        try {
          deps.net.apply(inverse(a));
        } catch (undo) {
          deps.log.warn(`static-ip: could not undo ${describeAction(a)}: ${(undo as Error).message}`);
        }
      }
      return { ok: false, reason: "refused", message: `${ifname}: ${(e as Error).message}` };
    }
  }
  const managers = request.families.some((f) => f.mode === "static") ? detectManagers(deps.root, ifname, ifindex) : [];
  // error-msg stays empty on success, as with the Windows agents, unless the result may not hold.
  const note = managers.length
    ? `applied live, may not hold: ${managers.join(", ")}; configure ${ifname} there to keep it (xenopsd re-applies the setting at every VIF plug)`
    : "";
  return { ok: true, message: [...summaries, ...(note ? [note] : [])].join("; "), data: { errorMsg: note } };
}

/** The action that undoes `a` (a replaced default route comes back as the agent's own). */
export function inverse(a: Action): Action {
  switch (a.op) {
    case "add-address":
      return { ...a, op: "del-address" };
    case "del-address":
      return { ...a, op: "add-address" };
    case "replace-default-route":
      return { ...a, op: "del-default-route" };
    case "del-default-route":
      return a.gateway ? { ...a, op: "replace-default-route", gateway: a.gateway } : a;
  }
}

export function staticIpType(deps: StaticIpDeps): RequestType<StaticIpRequest> {
  return {
    name: "static-ip",
    feature: FEATURE_KEY,
    featureFallback: FEATURE_KEY_FALLBACK,
    watch: [VIF_DIR],
    writers: "dom0-or-guest",
    async pending(tx) {
      let devids: string[];
      try {
        devids = await tx.directory(VIF_DIR);
      } catch (e) {
        if (isXenstoreCode(e, "ENOENT")) return [];
        throw e;
      }
      const out: PendingRequest<StaticIpRequest>[] = [];
      for (const devid of devids.filter((d) => /^\d{1,9}$/.test(d))) {
        const raw = await readSetting(tx, devid);
        if (raw.enabled === undefined && raw.enabled6 === undefined) continue;
        const parsed = parseSetting(Number(devid), raw);
        const what = parsed.ok ? parsed.request.families.map(describeFamily).join(", ") : "(malformed)";
        out.push({
          slot: settingDir(devid),
          signature: JSON.stringify(raw),
          node: `${settingDir(devid)}/${raw.enabled !== undefined ? "enabled" : "enabled6"}`,
          summary: `vif ${devid} ${raw.mac ?? "(no mac)"} ${what}`,
          parsed,
        });
      }
      return out;
    },
    async handle(request) {
      return carryOut(request, deps);
    },
    async answer(tx, request, outcome) {
      const dir = request.slot;
      const raw = JSON.parse(request.signature) as RawSetting;
      await tx.write(`${dir}/error-code`, String(outcome.ok ? 0 : ERROR_CODES[outcome.reason ?? "internal"]));
      const text = outcome.ok ? String(outcome.data?.errorMsg ?? "") : outcome.message;
      await tx.write(`${dir}/error-msg`, text.slice(0, 1024));
      // Removing enabled / enabled6 is the answer dom0 waits for.
      if (raw.enabled !== undefined) await tx.rm(`${dir}/enabled`);
      if (raw.enabled6 !== undefined) await tx.rm(`${dir}/enabled6`);
    },
  };
}
