#!/bin/bash
# dom0-run.sh: the e2e scenarios, run inside dom0 by e2e-dom0-init from the 9p share (/mnt/share).
# Each scenario drives real guests with xl and asserts on their xenstore trees from dom0; one RESULT line per
# scenario goes to share/results (name, pass|fail|pending, milliseconds, detail), read back by run.sh on the host.
# Adding a scenario = writing a function below and one `scenario` line at the bottom.
S=/mnt/share
. "$S/e2e.env"
. "$S/dom0-lib.sh"
GUEST_INITRD=$S/domU.cpio.zst
START_BUDGET=${E2E_START_BUDGET:-15}      # seconds from the agent's start to the complete std tree

# --- what the agent must publish (std schema) -------------------------------------------------------------------
# The guest runs the same Debian 12 userland and kernel as this dom0, so dom0's own files give the expected values.
. /etc/os-release
EXP_UNAME=$(uname -r)

check_std() {  # check_std NAME: the std keys of guest NAME are in T (see load_tree); DETAIL lists what is missing
  local name=$1 miss=() k v mem=${E2E_GUEST_MEM:-512}
  for k in MajorVersion MinorVersion MicroVersion BuildVersion; do
    [[ ${T[attr/PVAddons/$k]:-} =~ ^[0-9]+$ ]] || miss+=("attr/PVAddons/$k=${T[attr/PVAddons/$k]-<absent>}")
  done
  [ "${T[attr/PVAddons/Installed]:-}" = 1 ] || miss+=("attr/PVAddons/Installed=${T[attr/PVAddons/Installed]-<absent>}")
  [ "${T[data/os_name]:-}" = "$PRETTY_NAME" ] || miss+=("data/os_name=${T[data/os_name]-<absent>}")
  [ "${T[data/os_distro]:-}" = "$ID" ] || miss+=("data/os_distro=${T[data/os_distro]-<absent>}")
  [ "${T[data/os_majorver]:-}" = "${VERSION_ID%%.*}" ] || miss+=("data/os_majorver=${T[data/os_majorver]-<absent>}")
  [[ ${T[data/os_minorver]:-} =~ ^[0-9]+$ ]] || miss+=("data/os_minorver=${T[data/os_minorver]-<absent>}")
  [ "${T[data/os_uname]:-}" = "$EXP_UNAME" ] || miss+=("data/os_uname=${T[data/os_uname]-<absent>}")
  v=${T[data/meminfo_total]:-}
  # MemTotal is the guest's memory minus what the kernel keeps: between half of it and all of it, in KiB.
  [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt $((mem * 512)) ] && [ "$v" -le $((mem * 1024)) ] || miss+=("data/meminfo_total=${v:-<absent>}")
  [[ ${T[data/meminfo_free]:-} =~ ^[0-9]+$ ]] && [ "${T[data/meminfo_free]}" -le "${v:-0}" ] 2>/dev/null \
    || miss+=("data/meminfo_free=${T[data/meminfo_free]-<absent>}")
  [ "${T[attr/vif/0/ipv4/0]:-}" = "${IPADDR[$name]}" ] || miss+=("attr/vif/0/ipv4/0=${T[attr/vif/0/ipv4/0]-<absent>} (want ${IPADDR[$name]})")
  # control/ belongs to dom0 and xl does not create control/feature-balloon, so the guest's write gets EACCES:
  # the node is absent under xl (XAPI creates it writable, then it must be 1).
  case ${T[control/feature-balloon]-absent} in absent|1) ;; *) miss+=("control/feature-balloon=${T[control/feature-balloon]}") ;; esac
  [ "${T[data/host_name_dns]:-}" = "$name" ] || miss+=("data/host_name_dns=${T[data/host_name_dns]-<absent>} (want $name)")
  for k in feature/hotplug/vif feature/hotplug/vbd; do [ "${T[$k]:-}" = 1 ] || miss+=("$k=${T[$k]-<absent>}"); done
  has data/updated || miss+=("data/updated=<absent>")
  DETAIL="missing or wrong: ${miss[*]}"
  # None of the std keys at all: say so instead of listing 17 absences.
  [ -z "$(keys_under attr/PVAddons)$(keys_under feature/hotplug)" ] && ! has data/os_distro && ! has data/updated \
    && DETAIL="the agent published nothing (no attr/PVAddons, data/os_*, feature/hotplug, data/updated)"
  [ ${#miss[@]} -eq 0 ]
}

start_and_check_std() {  # start_and_check_std NAME TYPE IP: create the guest, then wait for its std tree
  local name=$1 t_create t_agent
  t_create=$(now)
  guest_create "$@" || return 1
  # The guest's init writes data/e2e-state just before it starts the agent.
  wait_until 180 "${DOMID[$name]}" has data/e2e-state || { fail "guest $name never reached its init: ${DETAIL:-timeout}"; return 1; }
  t_agent=$(now)
  note "xl create -> guest init $(secs $(( t_agent - t_create )))s"
  if ! wait_until "$START_BUDGET" "${DOMID[$name]}" check_std "$name"; then
    fail "not within ${START_BUDGET}s of the agent's start: $DETAIL"; return 1
  fi
  note "agent start -> std tree $(secs "$WAITED")s"
  note "control/feature-balloon ${T[control/feature-balloon]-absent}"
}

# --- scenarios --------------------------------------------------------------------------------------------------
sc_pv_start() { start_and_check_std pv pv 10.0.0.2/24 "maxvcpus = 2"; }
sc_pvh_start() {
  guest_destroy pv              # one guest at a time: the memory of the rig is small
  start_and_check_std pvh pvh 10.0.0.3/24 || return 1
  guest_destroy pvh
}

addr_is() {  # addr_is PATH VALUE|absent [NEXT_CHECK ARGS...]: PATH has VALUE, then NEXT_CHECK (if any) holds too
  local want=$2 got=${T[$1]-absent}
  request_failed && return 2
  [ "$got" = "$want" ] || { DETAIL="$1=$got, want $want"; return 1; }
  shift 2; [ $# -eq 0 ] || "$@"
}
sc_pv_address() {
  need_guest pv || return 1
  local D=${DOMID[pv]}
  guest_request pv addr-add eth0 10.0.0.102/24
  wait_until 20 "$D" addr_is attr/vif/0/ipv4/1 10.0.0.102 vif0_intact || { fail "after adding 10.0.0.102: $DETAIL"; return 1; }
  note "added -> attr/vif/0/ipv4/1 $(secs "$WAITED")s"
  guest_request pv addr-del eth0 10.0.0.102/24
  wait_until 20 "$D" addr_is attr/vif/0/ipv4/1 absent vif0_intact || { fail "after removing 10.0.0.102: $DETAIL"; return 1; }
  note "removed -> gone $(secs "$WAITED")s"
}

# The host requests, from dom0 with the agent's own `host` commands (the binary is in the share): ping and
# info answer; static-ip on vif 0 adds an address the way xenopsd would ask for it, dom0 pings it over the
# bridge, then --remove takes it away again (the later scenarios expect vif 0's original address only).
sc_pv_host_requests() {
  need_guest pv || return 1
  local A=$S/xen-guest-agent D=${DOMID[pv]} mac out
  out=$("$A" host ping pv --timeout 20 2>&1) || { fail "host ping: $out"; return 1; }
  note "$out"
  out=$("$A" host info "$D" --json --timeout 20 2>&1) || { fail "host info: $out"; return 1; }
  [[ $out == *'"name":"static-ip","served":true'* ]] || { fail "host info does not list static-ip as served: $out"; return 1; }
  mac=$(xenstore-read "/local/domain/$D/device/vif/0/mac") || { fail "no device/vif/0/mac"; return 1; }
  out=$("$A" host static-ip pv --mac "$mac" --address 10.0.0.50/24 --timeout 20 2>&1) || { fail "host static-ip: $out"; return 1; }
  note "static-ip: $out"
  reaches 10.0.0.50 "$mac" || { fail "dom0 cannot reach 10.0.0.50 over the bridge after static-ip: $DETAIL"; return 1; }
  note "dom0 reaches 10.0.0.50 over the bridge ($DETAIL)"
  out=$("$A" host static-ip pv --mac "$mac" --remove --timeout 20 2>&1) || { fail "host static-ip --remove: $out"; return 1; }
  wait_until 20 "$D" vif0_intact || { fail "after --remove: $DETAIL"; return 1; }
}

# dom0 has no ping: a UDP datagram makes dom0 resolve the address over the bridge; only a guest that holds
# the address answers the ARP request, so the neighbour entry must carry the guest's MAC.
reaches() {  # reaches IP MAC
  local i n
  for i in 1 2 3 4 5 6; do
    echo x > "/dev/udp/$1/9" 2>/dev/null
    sleep 0.5
    n=$(ip neigh show "$1")
    [[ $n == *"$2"* && $n != *FAILED* && $n != *INCOMPLETE* ]] && { DETAIL="neighbour: $n"; return 0; }
  done
  DETAIL="neighbour entry: ${n:-none}"; return 1
}

vif0_intact() {  # the first vif keeps its address through the other changes
  [ "${T[attr/vif/0/ipv4/0]:-}" = "${IPADDR[pv]}" ] || { DETAIL="attr/vif/0/ipv4/0=${T[attr/vif/0/ipv4/0]-absent}, want ${IPADDR[pv]}"; return 1; }
}
no_vif1() {
  ! has attr/vif/1 && [ -z "$(keys_under attr/vif/1)" ] || { DETAIL="still there: attr/vif/1 $(keys_under attr/vif/1 | tr '\n' ' ')"; return 1; }
  vif0_intact
}
sc_pv_vif_hotplug() {
  need_guest pv || return 1
  local D=${DOMID[pv]} t0
  t0=$(now)
  xl network-attach pv bridge=xenbr0 || { fail "xl network-attach failed"; return 1; }
  guest_request pv if-up eth1 10.0.1.2/24
  wait_until 30 "$D" addr_is attr/vif/1/ipv4/0 10.0.1.2 vif0_intact || { fail "after network-attach: $DETAIL"; return 1; }
  note "attach -> attr/vif/1/ipv4/0 $(secs $(( $(now) - t0 )))s"
  t0=$(now)
  xl network-detach pv 1 || { fail "xl network-detach failed"; return 1; }
  wait_until 30 "$D" no_vif1 || { fail "after network-detach: $DETAIL"; return 1; }
  note "detach -> attr/vif/1 gone $(secs $(( $(now) - t0 )))s"
}

sc_pv_save_restore() {
  need_guest pv || return 1
  local img=/var/lib/e2e-pv.save t0 D
  t0=$(now)
  xl save pv "$img" >/tmp/save.log 2>&1 || { cat /tmp/save.log; fail "xl save failed: $(tail -1 /tmp/save.log)"; return 1; }
  note "xl save $(secs $(( $(now) - t0 )))s ($(du -m "$img" | cut -f1) MB)"
  t0=$(now)
  xl restore "$img" >/tmp/restore.log 2>&1 || { cat /tmp/restore.log; fail "xl restore failed: $(tail -1 /tmp/restore.log)"; return 1; }
  rm -f "$img"
  D=$(xl domid pv) || { fail "no domain pv after xl restore"; return 1; }
  note "xl restore $(secs $(( $(now) - t0 )))s, domid ${DOMID[pv]} -> $D"
  [ "$D" != "${DOMID[pv]}" ] || { fail "restored domain kept domid $D: cannot tell republished keys from old ones"; return 1; }
  DOMID[pv]=$D
  wait_until "$START_BUDGET" "$D" check_std pv || { fail "restored tree not republished: $DETAIL"; return 1; }
  note "restored -> std tree $(secs "$WAITED")s"
}

# Issue 10: a PV disk under data/volumes, xl vcpu-set bringing spare vCPUs online.
volume_is() {  # volume_is DISK MOUNTPOINT SIZE_BYTES: some data/volumes/<n> describes it
  local k n
  request_failed && return 2
  for k in $(keys_under data/volumes); do
    [[ $k =~ ^data/volumes/([0-9]+)/extents/0$ ]] && [ "${T[$k]}" = "$1" ] || continue
    n=${BASH_REMATCH[1]}
    [ "${T[data/volumes/$n/mount_points/0]:-}" = "$2" ] && [ "${T[data/volumes/$n/size]:-}" = "$3" ] \
      && [[ ${T[data/volumes/$n/name]:-} == /dev/$1* ]] && [ "${T[data/volumes/$n/filesystem]:-}" = ext4 ] && return 0
    DETAIL="data/volumes/$n: name=${T[data/volumes/$n/name]-} filesystem=${T[data/volumes/$n/filesystem]-} size=${T[data/volumes/$n/size]-} mount_points/0=${T[data/volumes/$n/mount_points/0]-}"
    return 1
  done
  DETAIL="no data/volumes/<n>/extents/0 = $1 (have: $(keys_under data/volumes | grep -c .) keys)"; return 1
}
no_volume() { local k; request_failed && return 2; for k in $(keys_under data/volumes); do [ "${T[$k]}" = "$1" ] && [[ $k == */extents/* ]] && { DETAIL="$k is still $1"; return 1; }; done; return 0; }
sc_pv_volumes() {
  need_guest pv || return 1
  local D=${DOMID[pv]} img=/var/lib/e2e-vol.img t0
  truncate -s 64M "$img" && mkfs.ext4 -q -F "$img" || { fail "mkfs.ext4 of the volume failed"; return 1; }
  t0=$(now)
  xl block-attach pv "format=raw,vdev=xvdb,access=rw,target=$img" || { cat /var/log/xen/xen-hotplug.log 2>/dev/null | tail -5; fail "xl block-attach failed"; return 1; }
  guest_request pv mount xvdb /mnt/vol
  wait_until 30 "$D" volume_is xvdb /mnt/vol $((64 << 20)) || { fail "after attaching and mounting xvdb: $DETAIL"; return 1; }
  note "attach+mount -> data/volumes $(secs $(( $(now) - t0 )))s"
  t0=$(now)
  guest_request pv umount /mnt/vol
  wait_until 30 "$D" no_volume xvdb || { fail "after unmounting: $DETAIL"; return 1; }
  note "umount -> gone $(secs $(( $(now) - t0 )))s"
  xl block-detach pv xvdb || { fail "xl block-detach failed"; return 1; }
  rm -f "$img"
}
sc_pv_vcpu_set() {  # the PV guest starts with 1 of maxvcpus=2 vCPUs online
  need_guest pv || return 1
  local t0 state
  t0=$(now)
  # --ignore-host: the rig has one physical CPU (E2E_QEMU_SMP), xl refuses to overcommit without it.
  xl vcpu-set --ignore-host pv 2 || { fail "xl vcpu-set pv 2 failed"; return 1; }
  # The hypervisor's view (xl vcpu-list state): vCPU 1 running (r) or blocked (b) once the guest brought it
  # online; paused/offline before. Not in xenstore, so this polls; each xl call takes ~0.5 s under TCG.
  until state=$(xl vcpu-list pv | awk '$3 == 1 {print $5}'); [[ $state == *[rb]* ]]; do
    [ $(( $(now) - t0 )) -lt 30000000 ] || { fail "vCPU 1 not online 30s after xl vcpu-set (state ${state:-none})"; return 1; }
  done
  note "vcpu-set -> vCPU 1 online ($state) $(secs $(( $(now) - t0 )))s"
}

# The agent as the guest sees it after all of the above: its xenbus device, clock-jump timerfd and
# mount table watched by native threads (not the Worker fallback), and its memory (reported).
report_is_in() {
  request_failed && return 2
  has data/e2e-agent-report || { DETAIL="no data/e2e-agent-report yet"; return 1; }
}
sc_pv_agent_footprint() {
  need_guest pv || return 1
  local D=${DOMID[pv]} r t
  guest_request pv agent-report
  wait_until 20 "$D" report_is_in || { fail "the guest did not report on the agent: $DETAIL"; return 1; }
  r=${T[data/e2e-agent-report]}
  [[ $r =~ threads=([^ ]*)\ rss_kib=([0-9]+)\ anon_kib=([0-9]+) ]] || { fail "unreadable report: $r"; return 1; }
  t=${BASH_REMATCH[1]}
  note "RSS $(( BASH_REMATCH[2] / 1024 )) MiB, anonymous $(( BASH_REMATCH[3] / 1024 )) MiB; threads ${t%,}"
  [[ ,$t == *,xenbus,* && ,$t == *,clock-jump,* ]] || { fail "no xenbus and clock-jump watcher threads: ${t%,}"; return 1; }
  [[ ,$t != *,Worker,* ]] || { fail "the fd watchers fell back to a Worker: ${t%,}"; return 1; }
}

# Issue 16: a copy of a guest's data disk taken by `host fsfreeze` is consistent, one taken without it is not.
reply_ok() {  # the guest answered the last request, with rc 0
  request_failed && return 2
  [ "${T[data/e2e-reply]:-}" = "$REQ 0" ] || { DETAIL="no answer to request $REQ yet"; return 1; }
}
fsfreeze_served() { [ "${T[data/feature-fsfreeze]:-}${T[control/feature-fsfreeze]:-}" = 1 ] || { DETAIL="no data/ or control/feature-fsfreeze"; return 1; }; }
writer_past() {  # writer_past N: the guest's writer has done more than N writes (asks again until so)
  request_failed && return 2
  [ "${T[data/e2e-reply]:-}" = "$REQ 0" ] || { DETAIL="no answer to writer-count $REQ yet"; return 1; }
  [[ ${T[data/e2e-writer]:-} =~ ^[0-9]+$ ]] && [ "${T[data/e2e-writer]}" -gt "$1" ] && return 0
  DETAIL="writer count ${T[data/e2e-writer]:-none}, want more than $1"
  guest_request fsf writer-count; return 1
}
sc_pv_fsfreeze() {
  guest_destroy pv                # one guest at a time: the memory of the rig is small
  local img=/var/lib/e2e-fsf.img copy=/var/lib/e2e-fsf.copy D out rc before
  truncate -s 256M "$img" && mkfs.ext4 -q -F "$img" || { fail "mkfs.ext4 of the data disk failed"; return 1; }
  GUEST_EXTRA=e2e_fsfreeze=1 guest_create fsf pv 10.0.0.4/24 "disk = [ 'format=raw,vdev=xvdb,access=rw,target=$img' ]" || return 1
  D=${DOMID[fsf]}
  wait_until 180 "$D" has data/e2e-state || { fail "guest fsf never reached its init: $DETAIL"; return 1; }
  wait_until 60 "$D" fsfreeze_served || { fail "the agent does not advertise fsfreeze: $DETAIL"; return 1; }
  guest_request fsf mount xvdb /mnt/data
  wait_until 30 "$D" reply_ok || { fail "mounting xvdb in the guest: $DETAIL"; return 1; }
  guest_request fsf writer-start /mnt/data      # one request at a time: the guest reads only the latest
  wait_until 30 "$D" reply_ok || { fail "starting the writer: $DETAIL"; return 1; }
  guest_request fsf writer-count
  wait_until 30 "$D" writer_past 3 || { fail "the guest's writer does not write: $DETAIL"; return 1; }
  # Without the freeze: the copy of a mounted, busy ext4 needs journal recovery (so the check can fail).
  cp "$img" "$copy" || { fail "cp of the data disk failed"; return 1; }
  if ! dumpe2fs -h "$copy" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
    fail "a copy taken without freezing does not need journal recovery: the check below would prove nothing"; return 1
  fi
  note "unfrozen copy: needs_recovery"
  out=$(/mnt/share/xen-guest-agent host fsfreeze "$D" --timeout 30 --mount /mnt/data -- cp "$img" "$copy" 2>&1); rc=$?
  echo "$out"
  [ $rc -eq 0 ] || { fail "host fsfreeze -- cp: exit $rc: $(echo "$out" | tail -1)"; return 1; }
  note "$(echo "$out" | grep -o 'frozen for [0-9]* ms' | head -1)"
  out=$(e2fsck -fn "$copy" 2>&1); rc=$?
  [ $rc -eq 0 ] && ! echo "$out" | grep -qi recover || { echo "$out"; fail "e2fsck -fn on the frozen copy: rc=$rc $(echo "$out" | grep -i -m1 -e recover -e error)"; return 1; }
  note "frozen copy: e2fsck -fn clean"
  before=${T[data/e2e-writer]}
  guest_request fsf writer-count
  before=$(( ${before:-0} ))
  wait_until 30 "$D" writer_past "$before" || { fail "the guest's writer did not continue after the thaw: $DETAIL"; return 1; }
  note "writer continued (${T[data/e2e-writer]} writes)"
  guest_destroy fsf
  rm -f "$img" "$copy"
}

# --- main -------------------------------------------------------------------------------------------------------
if [ -n "${E2E_TRACE:-}" ]; then exec {xfd}>"$S/dom0-trace.log"; BASH_XTRACEFD=$xfd; PS4='+ ${EPOCHREALTIME} ${FUNCNAME[0]:-main}: '; set -x; fi
if [ -n "${E2E_MEMCHECK:-}" ]; then   # diagnostic: detects memory corruption in dom0 independently of this script
  ( head -c 50M /dev/urandom > /tmp/memcheck; ref=$(md5sum < /tmp/memcheck)
    while :; do cur=$(md5sum < /tmp/memcheck); [ "$cur" = "$ref" ] || echo "MEMCHECK MISMATCH at $(up): $cur" >> "$S/memcheck.log"; echo "ok $(up)" >> "$S/memcheck.log"; sleep 2; done ) &
fi
emit "PHASE dom0-ready $(up)"
modprobe loop                   # the block hotplug script puts file-backed disks on loop devices
ip link add xenbr0 type bridge && ip addr add 10.0.0.1/24 dev xenbr0 && ip addr add 10.0.1.1/24 dev xenbr0 && ip link set xenbr0 up
xl info | grep -E '^(xen_version|free_memory|nr_cpus)'
echo "xenstored: $(pgrep -a xenstored)"
echo "dom0 cpu flags (avx*/sse4*): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|sse4)' | tr '\n' ' ')"

scenario pv-start          sc_pv_start
scenario pv-address-change sc_pv_address
scenario pv-host-requests  sc_pv_host_requests
scenario pv-vif-hotplug    sc_pv_vif_hotplug
scenario pv-save-restore   sc_pv_save_restore
scenario pv-volumes        sc_pv_volumes
scenario pv-vcpu-hotplug   sc_pv_vcpu_set
scenario pv-agent-footprint sc_pv_agent_footprint
scenario pv-fsfreeze       sc_pv_fsfreeze
scenario pvh-start         sc_pvh_start
run_scenarios

for n in "${!DOMID[@]}"; do guest_destroy "$n"; done
cp /var/log/xen/console/guest-*.log "$S/" 2>/dev/null
mkdir -p "$S/dom0-logs"; cp /var/log/xen/*.log /var/log/xenstored*.log "$S/dom0-logs/" 2>/dev/null   # xl, hotplug, xenstored
emit "PHASE dom0-done $(up)"
