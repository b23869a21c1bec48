// The shipped unit: `systemd-analyze verify` accepts it and `security --offline=yes` rates its
// exposure at most 2.0. Skips (with the reason) where systemd-analyze is not installed.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const UNIT = resolve(import.meta.dir, "../../deploy/systemd/xen-guest-agent.service");
const analyze = Bun.which("systemd-analyze");
const why = analyze ? undefined : "systemd-analyze not installed (apt-get install systemd)";
if (why) console.log(`skip systemd unit checks: ${why}`);

describe.skipIf(!analyze)("deploy/systemd/xen-guest-agent.service", () => {
  test("systemd-analyze verify accepts it", () => {
    // verify insists that ExecStart's binary exists: point it at a stand-in.
    const dir = mkdtempSync(join(tmpdir(), "xga-unit-"));
    try {
      const bin = join(dir, "xen-guest-agent");
      writeFileSync(bin, "#!/bin/sh\n");
      chmodSync(bin, 0o755);
      const unit = join(dir, "xen-guest-agent.service");
      writeFileSync(unit, readFileSync(UNIT, "utf8").replaceAll("/usr/sbin/xen-guest-agent", bin));
      const r = Bun.spawnSync([analyze as string, "verify", "--man=no", unit], { stdout: "pipe", stderr: "pipe" });
      const out = r.stdout.toString() + r.stderr.toString();
      expect(out).not.toMatch(/Unknown key|Invalid|Failed to parse|is not executable/);
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("security --offline=yes: exposure at most 2.0", () => {
    const r = Bun.spawnSync([analyze as string, "security", "--offline=yes", "--no-pager", UNIT], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString() + r.stderr.toString();
    const m = /Overall exposure level for xen-guest-agent\.service: (\d+\.\d+)/.exec(out);
    expect(m).not.toBeNull();
    const exposure = Number(m?.[1]);
    console.log(`systemd-analyze security exposure: ${exposure}`);
    expect(exposure).toBeLessThanOrEqual(2.0);
  });

  test("carries the settings the agent depends on", () => {
    const text = readFileSync(UNIT, "utf8");
    for (const line of [
      "Type=notify",
      "ConditionVirtualization=xen",
      "Restart=on-failure",
      "Conflicts=xe-linux-distribution.service",
      "Environment=BUN_GC_TIMER_DISABLE=1",
      "ExecStart=/usr/sbin/xen-guest-agent run",
      "DeviceAllow=/dev/xen/xenbus rw",
      "ReadWritePaths=-/sys/power/pm_freeze_timeout",
      "MemoryDenyWriteExecute=no",
    ]) {
      expect(text.split("\n")).toContain(line);
    }
  });
});
