#!/bin/bash
# build-rig.sh CACHE_DIR
# Builds (or reuses) the cached boot pieces of the e2e rig: a Xen 4.17 hypervisor and a Debian 12 PV dom0 that boot
# under QEMU TCG, plus the agent-independent part of the guest initramfs. Needs root and apt access to the Debian
# archive. Idempotent: a stamp holding the hash of the inputs (this file, dom0-init) makes a second call a no-op.
# Produces in CACHE_DIR:
#   xen.elf dom0-vmlinuz dom0-initrd.img root.img   the machine booted by boot.sh (root.img is used with -snapshot)
#   domU-vmlinuz                                      the guest kernel (same Debian kernel as dom0)
#   domU-base.cpio.zst                                busybox, xenstore CLI + libs, glibc, netfront/blkfront, os-release
#   rootfs/                                           the dom0 tree the image was made from (kept to rebuild fast)
set -euo pipefail
C=$(realpath -m "${1:?usage: build-rig.sh CACHE_DIR}"); HERE=$(dirname "$(realpath "$0")")
KEY=$(cat "$HERE/build-rig.sh" "$HERE/dom0-init" | sha256sum | cut -c1-16)
mkdir -p "$C"
exec 9>"$C/.lock"; flock 9                       # two runs on one machine share the cache one at a time
if [ "$(cat "$C/stamp" 2>/dev/null)" = "$KEY" ]; then echo "build-rig: cache hit ($C, key $KEY)"; exit 0; fi
rm -f "$C/stamp"

t0=$(date +%s); step() { echo "build-rig +$(( $(date +%s) - t0 ))s: $*"; }
# Archive URIs come from the host's apt configuration (deb822 or one-line); MIRROR/SEC_MIRROR override them.
apt_uri() {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$1" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) print u}' || true
    grep -h "^deb " /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v s="$1" '$3==s {print $2}' || true
  } | head -n1 || true; } 2>/dev/null
MIRROR=${MIRROR:-$(apt_uri bookworm)}
SEC_MIRROR=${SEC_MIRROR:-$(apt_uri bookworm-security)}
[ -n "$MIRROR" ] || { echo "build-rig: no apt source for bookworm on this host; set MIRROR" >&2; exit 1; }
SEC_MIRROR=${SEC_MIRROR:-http://security.debian.org/debian-security}
R=$C/rootfs

if [ ! -e "$R/.e2e-debootstrap-done" ]; then
  step "debootstrap bookworm (minbase) from $MIRROR"
  rm -rf "$R"
  debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$C/debootstrap.log" 2>&1 \
    || { tail -20 "$C/debootstrap.log" >&2; exit 1; }
  touch "$R/.e2e-debootstrap-done"
fi

step "dom0 packages: Xen hypervisor + tools and kernel, with bookworm-security"
cat > "$R/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SEC_MIRROR bookworm-security main
SRC
mount -t proc proc "$R/proc"; trap 'umount "$R/proc" 2>/dev/null || true' EXIT
chroot "$R" apt-get update -q >"$C/apt-rootfs.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$R" apt-get install -y -q --no-install-recommends \
  xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils linux-image-amd64 \
  kmod iproute2 procps busybox cpio systemd-sysv python3-minimal >>"$C/apt-rootfs.log" 2>&1 \
  || { tail -20 "$C/apt-rootfs.log" >&2; exit 1; }
chroot "$R" apt-get clean
umount "$R/proc"; trap - EXIT

step "configure dom0"
KVER=$(ls "$R/lib/modules" | sort -V | tail -1)
echo '/dev/vda / ext4 defaults 0 1' > "$R/etc/fstab"
echo dom0 > "$R/etc/hostname"
grep -q '^XENCONSOLED_ARGS=' "$R/etc/default/xen" 2>/dev/null \
  || echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"
install -m755 "$HERE/dom0-init" "$R/sbin/e2e-dom0-init"

step "guest base initramfs (no agent, no /init: those come per run)"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$T"/{bin,sbin,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu,lib/modules,etc,proc,sys,dev,tmp,run,root,var/log}
cp "$R/bin/busybox" "$T/bin/"; ln -s busybox "$T/bin/sh"    # /init is a busybox sh script
for t in xenstore xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm xenstore-exists \
         xenstore-watch xenstore-chmod; do cp -P "$R/usr/bin/$t" "$T/usr/bin/"; done
# Modules, named so that the guest's `insmod /lib/modules/*.ko` loads them in dependency order (ext4 for the
# volumes scenario; ext4 wants crc32c even without metadata_csum).
n=0
for m in crypto/crc32c_generic lib/crc16 fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4 drivers/net/xen-netfront drivers/block/xen-blkfront; do
  cp "$R/lib/modules/$KVER/kernel/$m.ko" "$T/lib/modules/$n-${m##*/}.ko"; n=$((n + 1))
done
# Libraries of the xenstore CLI and busybox, plus the glibc pieces a Bun-compiled executable links against.
libs=$(chroot "$R" ldd /usr/bin/xenstore /bin/busybox | awk '/=> \// {print $3} /^[ \t]*\/lib.*ld-linux/ {print $1}')
for l in $libs /lib/x86_64-linux-gnu/{libc.so.6,libm.so.6,libpthread.so.0,libdl.so.2,librt.so.1} /lib64/ld-linux-x86-64.so.2; do
  mkdir -p "$T$(dirname "$l")"; cp -L "$R$l" "$T$l"
done
cp -L "$R/etc/os-release" "$T/etc/os-release"; cp "$R/etc/debian_version" "$T/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$T/etc/passwd"; printf 'root:x:0:\n' > "$T/etc/group"
# zstd, not gzip: libxc gunzips a gzip ramdisk itself (PV and PVH) and only understands one gzip member, which
# breaks the two-archive initramfs of mk-guest-initrd.sh. A zstd one is handed to the guest kernel untouched.
(cd "$T" && find . | cpio -o -H newc --quiet | zstd -q -3 -T0) > "$C/domU-base.cpio.zst"
rm -rf "$T"; trap - EXIT

step "boot files and root.img"
zcat "$R/boot/xen-4.17-amd64.gz" > "$C/xen.elf"        # 32-bit multiboot ELF: QEMU -kernel loads it directly
cp "$R/boot/vmlinuz-$KVER" "$C/dom0-vmlinuz"; cp "$R/boot/vmlinuz-$KVER" "$C/domU-vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$C/dom0-initrd.img"
rm -f "$C/root.img"; truncate -s 2G "$C/root.img"; mkfs.ext4 -q -F -L e2eroot -d "$R" "$C/root.img"
echo "$KEY" > "$C/stamp"
step "done: $C (key $KEY, kernel $KVER, $(du -sh "$C" | cut -f1))"
