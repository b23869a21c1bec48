#!/bin/bash
# boot.sh CACHE_DIR SHARE_DIR SERIAL_LOG
# Boots the cached rig (Xen 4.17 + Debian PV dom0) under QEMU TCG. dom0 runs SHARE_DIR/dom0-run.sh (9p tag "share")
# and powers off, so QEMU exits by itself. The serial console (Xen, then dom0's hvc0) goes to SERIAL_LOG.
# root.img is used with -snapshot: nothing a run does is written back to the cache.
set -euo pipefail
C=$(realpath "${1:?usage: boot.sh CACHE_DIR SHARE_DIR SERIAL_LOG}"); SHARE=$(realpath "${2:?}"); LOG=$(realpath -m "${3:?}")
# KVM is not usable on these machines: TCG only. CPU model: -cpu max minus
#  - SMAP/SMEP: with them QEMU 7.2 TCG makes the PV dom0 fault at once;
#  - AVX and friends (new in QEMU 7.2's TCG): with them, processes in dom0 saw random heap corruption ("corrupted
#    double-linked list" in bash, inflate errors in xl) once several were context-switched; glibc then picks AVX2
#    string functions. Without them glibc uses SSE2 and the corruption is gone.
CPU=max,-smap,-smep,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq,-avx-vnni,-avx512f,-xsave,-xsaveopt,-xsavec,-xsaves,-mpx,-pku
exec qemu-system-x86_64 -accel "${E2E_QEMU_ACCEL:-tcg}" -cpu "$CPU" -smp "${E2E_QEMU_SMP:-1}" -m "${E2E_QEMU_MEM:-3072}" \
  -display none -monitor none -serial "file:$LOG" -no-reboot \
  -kernel "$C/xen.elf" \
  -append "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=1024M,max:1024M dom0_max_vcpus=${E2E_QEMU_SMP:-1} noreboot" \
  -initrd "$C/dom0-vmlinuz root=/dev/vda rw console=hvc0 init=/sbin/e2e-dom0-init,$C/dom0-initrd.img" \
  -drive "file=$C/root.img,if=virtio,format=raw" -snapshot \
  -fsdev "local,id=fs0,path=$SHARE,security_model=none" -device virtio-9p-pci,fsdev=fs0,mount_tag=share \
  -nic none
