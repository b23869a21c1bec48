#!/bin/sh
# Stand-in for xen-guest-agent, used only to validate the e2e harness itself (E2E_AGENT=standin).
# Publishes the std keys with the xenstore CLI once a second, rewriting the vif addresses when they change.
# It does NOT test the agent: a run with it says so in its summary.
. /etc/os-release
pub_static() {
  xenstore-write attr/PVAddons/Installed 1 attr/PVAddons/MajorVersion 0 attr/PVAddons/MinorVersion 0 \
    attr/PVAddons/MicroVersion 0 attr/PVAddons/BuildVersion 0 \
    data/os_name "$PRETTY_NAME" data/os_uname "$(uname -r)" data/os_distro "$ID" \
    data/os_majorver "${VERSION_ID%%.*}" data/os_minorver 0 data/host_name_dns "$(hostname)" \
    feature/hotplug/vif 1 feature/hotplug/vbd 1
  xenstore-write control/feature-balloon 1 2>/dev/null || echo "standin: control/feature-balloon: EACCES" >&2
}
vifs() {  # one line per address: VIFID FAMILY ADDRESS, in kernel order
  for n in /sys/class/net/eth*; do
    id=$(cat "$n/device/nodename" 2>/dev/null) || continue; id=${id##*/}
    ip -o addr show dev "${n##*/}" | awk -v id="$id" '$3=="inet"||$3=="inet6" {sub("/.*","",$4); print id, ($3=="inet"?"ipv4":"ipv6"), $4}'
  done
}
last=
while :; do
  cur=$(vifs)
  if [ "$cur" != "$last" ] || ! xenstore-exists data/updated 2>/dev/null; then
    pub_static
    xenstore-rm attr/vif 2>/dev/null
    echo "$cur" | awk 'NF {k=$1" "$2; print "attr/vif/"$1"/"$2"/"(n[k]++)" "$3}' | while read -r p v; do xenstore-write "$p" "$v"; done
    last=$cur
  fi
  set -- $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p; s/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
  xenstore-write data/meminfo_total "$1" data/meminfo_free "$2" data/updated 1
  sleep 1
done
