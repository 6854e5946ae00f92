#!/usr/bin/env bash
# Provisions the guest root file system. Runs inside the debootstrapped tree
# (chroot) during `vm.sh build`, as root, with:
#   MIRROR, SECMIRROR (may be empty), SUITE, PACKAGES (space separated)
# and this directory's other files next to it (nsboxvm-share).
# Everything here is part of the image hash: editing this file rebuilds it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(dirname "$0")

# ---- packages
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d # no daemons started in the chroot
chmod 755 /usr/sbin/policy-rc.d
{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  if [[ -n $SECMIRROR ]]; then echo "deb $SECMIRROR $SUITE-security main"; fi
} >/etc/apt/sources.list
cat >/etc/apt/apt.conf.d/90nsboxvm <<'EOS'
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
APT::Install-Recommends "false";
APT::Keep-Downloaded-Packages "true";
EOS
# small initramfs: only what it takes to mount an ext4 root on virtio-blk
mkdir -p /etc/initramfs-tools/conf.d
printf 'MODULES=list\nCOMPRESS=zstd\n' >/etc/initramfs-tools/conf.d/nsboxvm.conf
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>/etc/initramfs-tools/modules
apt-get update -q
# shellcheck disable=SC2086 # PACKAGES is a word list
apt-get install -y -q $PACKAGES

# ---- identity, disks, network names
echo nsbox-vm >/etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 nsbox-vm\n::1 localhost ip6-localhost ip6-loopback\n' >/etc/hosts
printf '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n' >/etc/fstab
printf 'nameserver 10.0.2.3\n' >/etc/resolv.conf
# a fixed machine-id (an empty one triggers first-boot preset-all on every boot)
[[ -s /etc/machine-id ]] || systemd-machine-id-setup

# ---- the unprivileged test user: uid 1000, subordinate ids, lingering
useradd -m -u 1000 -U -s /bin/bash user
echo 'user:100000:65536' >/etc/subuid
echo 'user:100000:65536' >/etc/subgid
mkdir -p /var/lib/systemd/linger
touch /var/lib/systemd/linger/user
# bookworm's user@.service has "Delegate=pids memory cpu"; add io and cpuset,
# as rootless podman's documentation recommends (a real host may lack this)
mkdir -p /etc/systemd/system/user@.service.d
printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >/etc/systemd/system/user@.service.d/delegate.conf

# ---- ssh: key only (authorized_keys is put next to this script by vm.sh)
install -d -m 700 /root/.ssh
install -m 600 "$here/authorized_keys" /root/.ssh/authorized_keys
install -d -m 700 -o 1000 -g 1000 /home/user/.ssh
install -m 600 -o 1000 -g 1000 "$here/authorized_keys" /home/user/.ssh/authorized_keys
cat >/etc/ssh/sshd_config.d/nsboxvm.conf <<'EOS'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
GSSAPIAuthentication no
MaxSessions 100
MaxStartups 100:30:200
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_* TERM
EOS
: >/etc/motd

# ---- static IPv4 on qemu user-net; a oneshot is much cheaper than
# systemd-networkd under software emulation
cat >/etc/systemd/system/nsboxvm-net.service <<'EOS'
[Unit]
Description=Static IPv4 for qemu user-net (10.0.2.15/24 via 10.0.2.2)
BindsTo=sys-subsystem-net-devices-eth0.device
After=sys-subsystem-net-devices-eth0.device
Before=network.target ssh.service
Wants=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr replace 10.0.2.15/24 dev eth0
ExecStart=/sbin/ip route replace default via 10.0.2.2 dev eth0
[Install]
WantedBy=multi-user.target
EOS
systemctl enable nsboxvm-net.service

# ---- the host share (9p), mounted before ssh lets anyone in, and after
# tmpfiles-setup so boot-time cleaning never walks it
install -m 755 "$here/nsboxvm-share" /usr/local/sbin/nsboxvm-share
cat >/etc/systemd/system/nsboxvm-share.service <<'EOS'
[Unit]
Description=Mount the host share (9p)
After=local-fs.target systemd-tmpfiles-setup.service
Before=ssh.service systemd-user-sessions.service
ConditionKernelCommandLine=nsboxvm.share
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/nsboxvm-share
[Install]
WantedBy=multi-user.target
EOS
systemctl enable nsboxvm-share.service

# ---- persistent journal (on the throwaway overlay): per-user journals, so
# `journalctl --user` works; and fewer timers and gettys
mkdir -p /etc/systemd/journald.conf.d /var/log/journal
printf '[Journal]\nStorage=persistent\nSystemMaxUse=64M\n' >/etc/systemd/journald.conf.d/nsboxvm.conf
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer systemd-tmpfiles-clean.timer getty@tty1.service serial-getty@ttyS0.service; do
  systemctl mask "$u"
done

# ---- tidy up; no `apt-get clean`: /var/cache/apt/archives is the host-side
# .deb cache (a bind mount) that makes rebuilds fast
rm -f /usr/sbin/policy-rc.d /var/cache/apt/*.bin
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old
