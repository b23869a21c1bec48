#!/bin/bash
# run.sh: end-to-end test of xen-guest-agent on real Xen (npm run test:e2e). See docs/e2e.md.
# Builds the agent, puts it in a guest initramfs, boots Xen + dom0 under QEMU TCG, lets dom0-run.sh drive the
# scenarios, and prints one line per scenario, then "N passed, N failed". Exit status 0 only if nothing failed.
# Machines that cannot run it get "skipped: <reason>" and exit 0.
#
# Environment:
#   E2E_CACHE          cached rig (default /var/cache/xen-guest-agent-e2e; the agent is never cached)
#   E2E_AGENT          path to an agent binary to test instead of building one; "standin" = the shell stand-in
#                      (validates the harness only, and says so)
#   E2E_ONLY           regex: run only the scenarios whose name matches
#   E2E_PENDING=1      also run the scenarios registered as pending
#   E2E_GUEST_MEM      guest memory in MiB (default 512)
#   E2E_START_BUDGET   seconds allowed from the agent's start to a complete std tree (default 15)
#   E2E_XENSTORED=c    dom0 runs the C xenstored instead of oxenstored (Debian's default, and XAPI's)
#   E2E_AGENT_ARGS     extra arguments for `xen-guest-agent run --stderr` in the guests, e.g. --loglevel=debug
#   E2E_TRACE=1        dom0-run.sh runs under set -x into share/dom0-trace.log
#   E2E_MEMCHECK=1     dom0 checksums a 50 MB tmpfs file every 2 s (share/memcheck.log): emulation sanity
#   E2E_QEMU_TIMEOUT   seconds before QEMU is killed (default 600)
#   E2E_QEMU_SMP, E2E_QEMU_MEM, E2E_QEMU_ACCEL: the emulated machine (see boot.sh; defaults 1, 3072, tcg)
set -uo pipefail
HERE=$(dirname "$(realpath "$0")"); REPO=$(realpath "$HERE/../..")
W=$REPO/.work/e2e; CACHE=${E2E_CACHE:-/var/cache/xen-guest-agent-e2e}
T0=$(date +%s%N)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
fmt_ms() { printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }
phase() { printf '  %-28s %8s  %s\n' "$1" "$(fmt_ms "$2")" "${3:-}"; }
skip() { echo "skipped: $*"; exit 0; }
die() { echo "e2e: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- can this machine run it? -----------------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || skip "not x86-64 ($(uname -m))"
[ "$(id -u)" = 0 ] || skip "not root (debootstrap, chroot and mkfs of the rig need root)"
command -v apt-get >/dev/null || skip "no apt-get (the rig is built from the Debian archive)"
[ -d "$REPO/../shared/xen" ] || skip "$REPO/../shared/xen is missing: not a machine of the rig-validated kind"

# One run at a time on a machine: QEMU TCG and the rig build each want both cores, and runs share .work/e2e.
mkdir -p "$CACHE"; exec 8>"$CACHE/.run.lock"
flock -n 8 || { echo "e2e: another e2e run holds $CACHE/.run.lock, waiting"; flock 8; }

# --- host tools -------------------------------------------------------------------------------------------------
t=$(date +%s%N)
missing=()
for c in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap mkfs.ext4:e2fsprogs cpio:cpio readelf:binutils zstd:zstd; do
  command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: installing ${missing[*]}"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >/tmp/e2e-host-apt.log 2>&1 || { tail -20 /tmp/e2e-host-apt.log; die "apt-get install ${missing[*]} failed"; }
fi
T_HOST=$(ms_since "$t")

# --- the rig (cached) ---------------------------------------------------------------------------------------------
t=$(date +%s%N)
"$HERE/build-rig.sh" "$CACHE" || die "building the rig failed (logs in $CACHE)"
T_RIG=$(ms_since "$t")

# --- the agent (never cached) -------------------------------------------------------------------------------------
rm -rf "$W"; mkdir -p "$W/share"
t=$(date +%s%N)
BUN=$REPO/node_modules/.bin/bun
case ${E2E_AGENT:-} in
  standin) AGENT=$HERE/standin-agent.sh; AGENT_KIND="STAND-IN (scripts/e2e/standin-agent.sh): the harness is tested, not the agent" ;;
  "")
    AGENT_KIND="built from $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src native 2>/dev/null || echo ' + uncommitted changes in src/native')"
    if [ -f "$REPO/scripts/build.ts" ]; then
      (cd "$REPO" && "$BUN" scripts/build.ts --target linux-x64-baseline) || die "bun scripts/build.ts --target linux-x64-baseline failed"
      # dist/ is shared with other builds: take our own copy at once.
      cp "$REPO/dist/xen-guest-agent-linux-x64-baseline" "$W/xen-guest-agent" || die "no dist/xen-guest-agent-linux-x64-baseline"
      AGENT=$W/xen-guest-agent
    else
      [ -f "$REPO/src/main.ts" ] || die "src/main.ts does not exist yet: no agent to build"
      entries=(src/main.ts); [ -f "$REPO/native/xenbus-worker.ts" ] && entries+=(native/xenbus-worker.ts)
      (cd "$REPO" && "$BUN" build --compile --target=bun-linux-x64-baseline --no-compile-autoload-bunfig \
        --no-compile-autoload-dotenv "${entries[@]}" --outfile "$W/xen-guest-agent") >"$W/agent-build.log" 2>&1 \
        || { cat "$W/agent-build.log"; die "bun build --compile of the agent failed"; }
      AGENT=$W/xen-guest-agent
    fi ;;
  *) AGENT=$(realpath "$E2E_AGENT"); AGENT_KIND="given: $E2E_AGENT" ;;
esac
[ -f "$AGENT" ] || die "no agent binary at $AGENT"
T_AGENT=$(ms_since "$t")
t=$(date +%s%N)
"$HERE/mk-guest-initrd.sh" "$CACHE" "$AGENT" "$W/share/domU.cpio.zst" || die "building the guest initramfs failed"
T_INITRD=$(ms_since "$t")

# --- stage the share and boot -------------------------------------------------------------------------------------
install -m755 "$HERE/dom0-run.sh" "$W/share/"; cp "$HERE/dom0-lib.sh" "$W/share/"
install -m755 "$AGENT" "$W/share/xen-guest-agent"   # dom0 runs `host ping|info|static-ip|fsfreeze` with the same binary
for v in E2E_ONLY E2E_PENDING E2E_GUEST_MEM E2E_START_BUDGET E2E_AGENT_ARGS E2E_XENSTORED E2E_TRACE E2E_MEMCHECK; do printf '%s=%q\n' "$v" "${!v:-}"; done > "$W/share/e2e.env"
: > "$W/share/results"
echo "e2e: agent $AGENT_KIND"
echo "e2e: booting Xen + dom0 under QEMU TCG (serial log: $W/serial.log)"
t=$(date +%s%N); T_BOOT_START=$t
timeout -s KILL "${E2E_QEMU_TIMEOUT:-600}" "$HERE/boot.sh" "$CACHE" "$W/share" "$W/serial.log" &
QEMU=$!
# Follow the results as dom0 writes them (9p writes land in the host directory at once).
declare -A RES
while read -r kind name st ms detail; do
  case $kind in
    PHASE) [ "$name" = dom0-ready ] && phase "boot (QEMU -> dom0 ready)" "$(ms_since "$T_BOOT_START")" "dom0 uptime $st s" ;;
    RESULT)
      RES[$name]=$st
      printf '  %-7s %-21s %8s  %s\n' "${st^^}" "$name" "$(fmt_ms "$ms")" "$detail" ;;
  esac
done < <(tail -n +1 -F --pid=$QEMU "$W/share/results" 2>/dev/null)
wait $QEMU; QRC=$?
T_QEMU=$(ms_since "$t")
[ $QRC -eq 0 ] || echo "e2e: QEMU exited with rc=$QRC$([ $QRC -eq 137 ] && echo " (killed after ${E2E_QEMU_TIMEOUT:-600}s)")"

# --- summary --------------------------------------------------------------------------------------------------------
pass=0 fail=0 pending=0
for name in $(awk '/^scenario /{print $2}' "$HERE/dom0-run.sh"); do
  if [ -n "${E2E_ONLY:-}" ] && ! [[ $name =~ $E2E_ONLY ]]; then continue; fi
  case ${RES[$name]:-} in
    pass) pass=$((pass + 1)) ;;
    pending) pending=$((pending + 1)) ;;
    fail) fail=$((fail + 1)) ;;
    *) fail=$((fail + 1)); printf '  %-7s %-21s %8s  %s\n' FAIL "$name" - "not run (dom0-run.sh did not report it)" ;;
  esac
done
[ $((pass + fail)) -gt 0 ] || { fail=1; echo "e2e: no scenario ran"; }
echo "timings:"
phase "host packages" "$T_HOST"; phase "rig (build or cache)" "$T_RIG"; phase "agent build" "$T_AGENT"
phase "guest initramfs" "$T_INITRD"; phase "QEMU (boot + scenarios)" "$T_QEMU"; phase "total" "$(ms_since "$T0")"
echo "agent: $AGENT_KIND"
[ $pending -gt 0 ] && echo "$pending pending (not written yet, not counted)"
if [ $fail -gt 0 ] || [ $QRC -ne 0 ]; then
  [ $fail -gt 0 ] || fail=1
  cp "$W/share/dom0.log" "$W/" 2>/dev/null; cp "$W/share"/guest-*.log "$W/" 2>/dev/null; cp -r "$W/share/dom0-logs" "$W/" 2>/dev/null
  echo "artifacts: $W/serial.log (QEMU serial: Xen + dom0), $W/dom0.log (dom0-run.sh), $W/guest-*.log (guest consoles), $W/dom0-logs/ (xl, hotplug, xenstored)"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
