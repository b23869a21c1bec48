# dom0-lib.sh: helpers for dom0-run.sh (sourced, bash). Runs inside the e2e dom0.
# Every dom0 command costs 0.5-0.9 s under QEMU TCG, so the helpers read a guest's whole tree with one
# `xenstore-ls -f` and wait with `xenstore-watch` (re-checking once per burst of events), never with fixed sleeps.

now() { echo "${EPOCHREALTIME/./}"; }                 # microseconds, no fork
secs() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }   # secs MICROSECONDS -> "12.34"
up() { cut -d' ' -f1 /proc/uptime; }

RESULTS=${RESULTS:-/mnt/share/results}
emit() { echo "$*" >> "$RESULTS"; echo ">>> $*"; }    # one line to the host (read back by run.sh) and the log

# --- the scenario registry -------------------------------------------------------------------------------------
# scenario NAME FUNCTION [pending REASON]: a scenario is a shell function that returns 0 (pass) or non-zero after
# calling `fail MESSAGE`; `note MESSAGE` adds a detail shown on the host. Scenarios run in the order registered,
# in this shell, so later ones can use the guests earlier ones left running (see need_guest).
SCENARIOS=()
scenario() { SCENARIOS+=("$1|$2|${3:-}|${4:-}"); }
DETAIL=; NOTES=
fail() { DETAIL="$*"; echo "FAIL: $*"; return 1; }
note() { NOTES="${NOTES:+$NOTES; }$*"; echo "note: $*"; }

run_scenarios() {  # runs the registered scenarios selected by the regex E2E_ONLY (default: all)
  local entry name fn kind reason t0 rc
  for entry in "${SCENARIOS[@]}"; do
    IFS='|' read -r name fn kind reason <<<"$entry"
    if [ -n "${E2E_ONLY:-}" ] && ! [[ $name =~ $E2E_ONLY ]]; then continue; fi
    if [ "$kind" = pending ] && [ -z "${E2E_PENDING:-}" ]; then emit "RESULT $name pending 0 $reason"; continue; fi
    echo "===== scenario $name (dom0 uptime $(up)s)"
    DETAIL=; NOTES=; t0=$(now)
    "$fn"; rc=$?
    local took=$(( $(now) - t0 )) msg
    if [ $rc -eq 0 ]; then emit "RESULT $name pass $((took / 1000)) $NOTES"
    else msg=${DETAIL:-returned $rc}; emit "RESULT $name fail $((took / 1000)) $msg${NOTES:+ ($NOTES)}"; dump_guests; fi
  done
}

dump_guests() {  # after a failure: what the guests published, for the log
  local n
  for n in "${!DOMID[@]}"; do
    echo "----- xenstore of guest $n (domain ${DOMID[$n]}): data attr control feature"
    xenstore-ls -f "/local/domain/${DOMID[$n]}" 2>&1 | grep -E "^/local/domain/${DOMID[$n]}/(data|attr|control|feature)/"
    # SysRq-w through control/sysrq: the guest kernel lists its blocked tasks on its console (guest-<name>.log),
    # if its xenbus still works.
    xl sysrq "$n" w 2>/dev/null
    # Whether the guest kernel is alive at all (the network does not go through xenstore once connected).
    if busybox ping -c1 -W3 "${IPADDR[$n]}" >/dev/null 2>&1; then echo "guest $n answers ping"; else echo "guest $n does NOT answer ping"; fi
  done
}

# --- reading a guest's tree -------------------------------------------------------------------------------------
declare -A T                  # T[relative/path]=value for the domain last loaded
load_tree() {  # load_tree DOMID: one xenstore-ls; returns 1 if the domain's tree is gone
  local line out
  T=()
  out=$(xenstore-ls -f "/local/domain/$1" 2>/dev/null) || return 1
  while IFS= read -r line; do
    [[ $line =~ ^/local/domain/[0-9]+/([^ ]+)\ =\ \"(.*)\"$ ]] && T[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done <<<"$out"
  return 0
}
has() { [ -n "${T[$1]+x}" ]; }
keys_under() { local k; for k in "${!T[@]}"; do [[ $k == "$1"/* ]] && echo "$k"; done | sort; }

# wait_until TIMEOUT DOMID CHECK [ARGS...]: loads the guest's tree and runs CHECK ARGS at once and after every
# burst of xenstore-watch events on the guest's tree. CHECK returns 0 when satisfied, 1 when not yet (DETAIL says
# what is missing), 2 when it can never be. wait_until returns 0 when CHECK succeeded, 2 when it cannot (CHECK
# said so, the guest's tree disappeared or the agent exited), 1 after TIMEOUT seconds.
# WAITED holds the time spent in microseconds.
WAITED=0
wait_until() {
  local timeout=$1 domid=$2; shift 2
  local t0 line rc=1 c fifo=/tmp/xswatch.$$ fd pid
  t0=$(now)
  # The deadline is enforced by `timeout` ending xenstore-watch, which the loop sees as end of file: plain
  # blocking reads, no timers in the shell.
  rm -f "$fifo"; mkfifo "$fifo"
  timeout "$timeout" xenstore-watch "/local/domain/$domid" >"$fifo" 2>/dev/null & pid=$!
  exec {fd}<"$fifo"; rm -f "$fifo"
  while read -r line <&"$fd"; do
    while read -t 0 <&"$fd" && read -r line <&"$fd"; do :; done    # drain the burst of events, then check once
    if ! load_tree "$domid"; then DETAIL="the tree of domain $domid is gone (guest died?)"; rc=2; break; fi
    if has data/e2e-agent-exit; then DETAIL="the agent exited with rc=${T[data/e2e-agent-exit]} (see the guest console)"; rc=2; break; fi
    "$@"; c=$?
    [ $c -eq 0 ] && { rc=0; break; }
    [ $c -ge 2 ] && { rc=2; break; }
  done
  exec {fd}<&-; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  WAITED=$(( $(now) - t0 ))
  [ $rc -eq 1 ] && [ "$WAITED" -lt $(( timeout * 1000000 - 500000 )) ] && { DETAIL="xenstore-watch ended early; $DETAIL"; rc=2; }
  return $rc
}

# --- guests -----------------------------------------------------------------------------------------------------
declare -A DOMID IPADDR        # per guest name
guest_create() {  # guest_create NAME pv|pvh IPV4/PREFIX [extra xl config lines...]; GUEST_EXTRA: more kernel arguments
  local name=$1 type=$2 ip=$3; shift 3
  local cfg=/tmp/$name.cfg
  {
    echo "name = \"$name\""; echo "type = \"$type\""
    echo "kernel = \"/boot/vmlinuz-$(uname -r)\""        # the guest runs dom0's own kernel
    echo "ramdisk = \"$GUEST_INITRD\""
    echo "extra = \"console=hvc0 rdinit=/init quiet e2e_ip=$ip${E2E_AGENT_ARGS:+ e2e_agent_args=${E2E_AGENT_ARGS// /,}}${GUEST_EXTRA:+ $GUEST_EXTRA}\""
    echo "memory = ${E2E_GUEST_MEM:-512}"; echo "vcpus = 1"
    echo "vif = [ \"bridge=xenbr0\" ]"
    echo "on_poweroff = \"destroy\""; echo "on_crash = \"destroy\""
    [ "$type" = pvh ] && echo 'tsc_mode = "native"'   # QEMU TCG's SVM lacks NRIPS: Xen cannot decode RDTSCP exits
    local l; for l in "$@"; do echo "$l"; done
  } > "$cfg"
  xl create "$cfg" >/tmp/$name.create.log 2>&1 || { cat /tmp/$name.create.log; fail "xl create $name failed: $( (grep -m1 error /tmp/$name.create.log || tail -1 /tmp/$name.create.log) | tr -d "\n")"; return 1; }
  DOMID[$name]=$(xl domid "$name") IPADDR[$name]=${ip%/*}
  echo "guest $name: domid ${DOMID[$name]}, $type, eth0 $ip"
}
guest_destroy() { [ -n "${DOMID[$1]:-}" ] && xl destroy "$1" 2>/dev/null; unset "DOMID[$1]"; }
need_guest() {  # need_guest NAME: fails the scenario if an earlier scenario did not leave the guest running
  [ -n "${DOMID[$1]:-}" ] && xl domid "$1" >/dev/null 2>&1 || { fail "guest $1 is not running (an earlier scenario failed)"; return 1; }
}

REQ_SEQ=0
guest_request() {  # guest_request NAME COMMAND ARGS...: the guest's init runs it (see guest-init); REQ holds the seq
  REQ_SEQ=$((REQ_SEQ + 1)); REQ=$REQ_SEQ
  local name=$1; shift
  xenstore-write "/local/domain/${DOMID[$name]}/control/e2e-request" "$REQ $*"
}
request_failed() {  # true (and DETAIL set) when the guest answered the last request with a non-zero rc
  local r=${T[data/e2e-reply]:-}
  [ "${r%% *}" = "$REQ" ] && [ "${r#* }" != 0 ] && { DETAIL="guest request $REQ failed: rc=${r#* } (see the guest console)"; return 0; }
  return 1
}
