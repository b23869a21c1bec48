#!/bin/bash
# mk-guest-initrd.sh CACHE_DIR AGENT_BINARY OUT.cpio.zst
# The guest initramfs of one run: the cached agent-independent base (CACHE_DIR/domU-base.cpio.zst, see build-rig.sh)
# followed by a second archive holding /init (guest-init) and /usr/sbin/xen-guest-agent. The kernel unpacks
# concatenated archives in order, so the agent is never cached and the base is never rebuilt for a new agent.
set -euo pipefail
C=$(realpath "${1:?usage: mk-guest-initrd.sh CACHE_DIR AGENT_BINARY OUT}"); AGENT=$(realpath "${2:?}"); OUT=$(realpath -m "${3:?}")
HERE=$(dirname "$(realpath "$0")")
# Every shared library the agent asks for must be in the base (glibc only, for a Bun-compiled executable).
if [ "$(head -c4 "$AGENT" | tail -c3)" = ELF ]; then
  have=$(zstd -dcq "$C/domU-base.cpio.zst" | cpio -t --quiet | sed 's|.*/||' | sort -u)
  for lib in $(readelf -d "$AGENT" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    grep -qxF "$lib" <<<"$have" || { echo "mk-guest-initrd: the agent needs $lib, which the guest base lacks" >&2; exit 1; }
  done
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/usr/sbin"
install -m755 "$HERE/guest-init" "$T/init"
install -m755 "$AGENT" "$T/usr/sbin/xen-guest-agent"
# Both archives are zstd (see build-rig.sh: a gzip ramdisk is unpacked by libxc, which stops after one member).
{ cat "$C/domU-base.cpio.zst"; (cd "$T" && find . | cpio -o -H newc --quiet | zstd -q -3 -T0); } > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "mk-guest-initrd: $OUT ($(du -m "$OUT" | cut -f1) MB, agent $(du -m "$AGENT" | cut -f1) MB)"
