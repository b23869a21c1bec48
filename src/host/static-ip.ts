// dom0 side of the static IP setting (src/requests/static-ip/protocol.ts): write it as xenopsd
// does for VIF.configure_ipv4/ipv6, wait for the guest to remove enabled/enabled6, read the answer.
//
// On a plain xl host xenserver/ does not exist; the setting directory is created dom0-owned with
// the guest allowed to read and write it (n0,b<domid>), which the guest needs to answer (it writes
// error-code and removes enabled). Under XAPI xenopsd makes it the same way or guest-owned.
import { KEYS, settingDir, FEATURE_KEY, FEATURE_KEY_FALLBACK } from "../requests/static-ip/protocol.ts";
import { readIfPresent } from "../xenstore/errors.ts";
import { advertised, HostRequestError, waitFor, type HostClient } from "./domain.ts";

export interface FamilySetting {
  /** 1 static, 0 remove, 2 DHCP / autoconfiguration. */
  mode: "0" | "1" | "2";
  address?: string;
  gateway?: string;
}

export interface StaticIpAnswer {
  errorCode: string;
  errorMsg: string;
  elapsedMs: number;
}

export async function sendStaticIp(
  client: HostClient,
  domid: number,
  devid: number,
  setting: { mac: string; ipv4?: FamilySetting; ipv6?: FamilySetting },
  opts: { timeoutMs: number; requireFeature?: boolean },
): Promise<StaticIpAnswer> {
  const home = `/local/domain/${domid}`;
  if (opts.requireFeature !== false && !(await advertised(client, domid, FEATURE_KEY, FEATURE_KEY_FALLBACK))) {
    throw new HostRequestError(`the agent in domain ${domid} does not serve static-ip (no ${FEATURE_KEY} nor ${FEATURE_KEY_FALLBACK}): not running, or [requests] static-ip = false`);
  }
  const dir = `${home}/${settingDir(devid)}`;
  const values: [string, string][] = [["mac", setting.mac.toLowerCase()]];
  for (const [f, suffix] of [[setting.ipv4, ""], [setting.ipv6, "6"]] as const) {
    if (!f) continue;
    if (f.address !== undefined) values.push([`address${suffix}`, f.address]);
    values.push([`gateway${suffix}`, f.gateway ?? ""]);
  }
  // The modes last: they are what the guest acts on.
  if (setting.ipv4) values.push(["enabled", setting.ipv4.mode]);
  if (setting.ipv6) values.push(["enabled6", setting.ipv6.mode]);
  if ((await readIfPresent(client, dir)) === undefined) {
    await client.mkdir(dir);
    await client.setPerms(dir, ["n0", `b${domid}`]);
  }
  let started = 0;
  const answer = await waitFor(client, dir, async () => {
    if (started === 0) {
      started = performance.now();
      await client.transaction(async (tx) => {
        // A previous answer must not be taken for this one; fields this request leaves out go.
        for (const k of ["error-code", "error-msg", ...KEYS]) await tx.rm(`${dir}/${k}`).catch(() => {});
        for (const [k, v] of values) await tx.write(`${dir}/${k}`, v);
      });
      return undefined;
    }
    const [enabled, enabled6, code] = await Promise.all([readIfPresent(client, `${dir}/enabled`), readIfPresent(client, `${dir}/enabled6`), readIfPresent(client, `${dir}/error-code`)]);
    if (enabled !== undefined || enabled6 !== undefined || code === undefined) return undefined;
    return { errorCode: code, errorMsg: (await readIfPresent(client, `${dir}/error-msg`)) ?? "", elapsedMs: performance.now() - started };
  }, opts.timeoutMs);
  if (!answer) throw new HostRequestError(`no static-ip answer from the agent in domain ${domid} within ${opts.timeoutMs / 1000} s (enabled is still there)`);
  return answer;
}
