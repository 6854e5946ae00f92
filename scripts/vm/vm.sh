#!/usr/bin/env bash
# vm.sh - a throwaway Debian bookworm VM (qemu) with a real systemd user
# session on the unified cgroup v2 hierarchy, for the parts of nsbox that a
# build host without systemd (or with a hybrid cgroup v1 layout) cannot test.
#
#   vm.sh build [--force]        build the cached base image (debootstrap; root)
#   vm.sh built                  exit 0 if the cached image is current
#   vm.sh start [--share DIR]    boot on a throwaway overlay and wait until the
#                                user session is up; DIR appears in the guest
#                                at the same path (9p), owned by `user`
#   vm.sh run [--root] [-t] -- CMD ARGS...
#                                run CMD as `user` (uid 1000) in its login
#                                session (or as root); stdin/stdout/stderr and
#                                the exit code come back. Run from inside the
#                                shared DIR, it starts in the same directory.
#   vm.sh shell [--root]         interactive login shell
#   vm.sh stop [--now]           power off (bounded; then SIGTERM/SIGKILL) and
#                                discard the overlay; --now: SIGTERM at once
#   vm.sh status | log           is it running / the serial console
#
# Environment (all optional):
#   VM_HOME=~/.cache/nsbox-vm    image and state live here, never in a checkout
#   VM_STATE=$VM_HOME/state      one running VM per state directory
#   VM_MEM=1536 (MiB)  VM_CPUS=2  VM_ACCEL=auto|kvm|tcg  VM_BOOT_TIMEOUT=300
#   VM_BUILD_TIMEOUT=1800        seconds for debootstrap + package installation
#   VM_9P_CACHE=mmap             9p cache mode of the share
#   VM_TCG_TB_MB=256             TCG translation cache (host RSS ~ MEM + this)
#   VM_MIRROR, VM_SECURITY_MIRROR  default: taken from /etc/apt/sources.list*
#   VM_DEBUG=1                   verbose kernel/systemd output in `vm.sh log`
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_HOME=${VM_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/nsbox-vm}
STATE=${VM_STATE:-$VM_HOME/state}
IMG=$VM_HOME/image
APT_CACHE=$VM_HOME/cache/apt
DEB_CACHE=$VM_HOME/cache/debootstrap
MEM=${VM_MEM:-1536}
CPUS=${VM_CPUS:-2}
BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-300}
GUSER=user # uid 1000 in the guest
SUITE=bookworm
HOSTALIAS=nsbox-vm

PACKAGES=(
  # boot: kernel, init, a small initramfs
  linux-image-amd64 initramfs-tools zstd kmod udev systemd systemd-sysv
  # a login session with a systemd user manager and its D-Bus
  dbus dbus-user-session libpam-systemd libsystemd0 openssh-server
  # what nsbox uses or is compared with
  uidmap passt slirp4netns stress iproute2 procps util-linux psmisc
  # the share (uid mapping) and comfort
  bindfs fuse3 less ca-certificates
  # the Deno binary from the host needs only glibc and libgcc, both in minbase
)

log() { printf '[vm.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
now_ms() { date +%s%3N; }
since() { # $1 = start in ms -> "12.3s"
  local d=$(($(now_ms) - $1))
  printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100))
}

# ---------------------------------------------------------------- build
detect_mirror() { # $1 = archive name (debian | debian-security)
  local f files=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] && files+=("$f")
  done
  ((${#files[@]})) || return 0
  { grep -hE '^[[:space:]]*(URIs:|deb[[:space:]])' "${files[@]}" || true; } |
    grep -oE '(https?|file)://[^[:space:]]+' | sed 's:/*$::' | { grep -E "/$1\$" || true; } | head -n1
}

# Everything the image is made from; a change means a rebuild.
image_hash() {
  { printf '%s\n' "$SUITE" "${PACKAGES[*]}"; cat "$HERE"/guest/*; } | sha256sum | cut -c1-16
}

image_current() {
  [[ -f $IMG/base.img && -f $IMG/stamp && $(<"$IMG/stamp") == "$(image_hash)" ]]
}

cmd_build() {
  local force=0
  [[ ${1:-} == --force ]] && force=1
  if ((!force)) && image_current; then
    log "image up to date: $IMG/base.img"
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "building the image needs root (debootstrap, chroot)"
  mkdir -p "$IMG" "$APT_CACHE" "$DEB_CACHE"
  # one build at a time
  exec 9>"$VM_HOME/build.lock"
  flock -w "${VM_BUILD_TIMEOUT:-1800}" 9 || die "another build holds $VM_HOME/build.lock"
  if ((!force)) && image_current; then return 0; fi

  local mirror secmirror
  mirror=${VM_MIRROR:-$(detect_mirror debian)}
  secmirror=${VM_SECURITY_MIRROR:-$(detect_mirror debian-security)}
  [[ -n $mirror ]] || die "no Debian mirror in /etc/apt/sources.list*; set VM_MIRROR"
  log "building $SUITE image from $mirror (security: ${secmirror:-none}) ..."
  local t0 R=$IMG/rootfs.tmp
  t0=$(now_ms)
  rm -rf "$R" "$IMG/base.img.tmp"
  mkdir -p "$R"
  [[ -f $IMG/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C nsbox-vm -f "$IMG/id_ed25519"

  # Both steps run in a private mount namespace: whatever debootstrap and the
  # chroot mount vanishes with it, even if they are killed half way.
  log "debootstrap (minbase) ..."
  timeout "${VM_BUILD_TIMEOUT:-1800}" unshare --mount --propagation private -- \
    debootstrap --variant=minbase --cache-dir="$DEB_CACHE" \
    "$SUITE" "$R" "$mirror" >"$IMG/build.log" 2>&1 ||
    { tail -30 "$IMG/build.log" >&2; die "debootstrap failed (see $IMG/build.log)"; }

  log "installing packages, configuring the guest ..."
  mkdir -p "$R/tmp/nsboxvm"
  cp "$HERE"/guest/* "$R/tmp/nsboxvm/"
  cp "$IMG/id_ed25519.pub" "$R/tmp/nsboxvm/authorized_keys"
  # shellcheck disable=SC2016 # expanded by the inner sh
  timeout "${VM_BUILD_TIMEOUT:-1800}" unshare --mount --propagation private -- sh -ec '
    R=$1; C=$2; shift 2
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs tmpfs "$R/run"
    mkdir -p "$R/var/cache/apt/archives"
    mount --bind "$C" "$R/var/cache/apt/archives"
    exec chroot "$R" env "$@" /tmp/nsboxvm/setup.sh
  ' sh "$R" "$APT_CACHE" \
    MIRROR="$mirror" SECMIRROR="$secmirror" SUITE="$SUITE" PACKAGES="${PACKAGES[*]}" \
    >>"$IMG/build.log" 2>&1 ||
    { tail -40 "$IMG/build.log" >&2; die "guest setup failed (see $IMG/build.log)"; }
  rm -rf "$R/tmp/nsboxvm"

  # kernel and initrd for direct boot; the guest's ssh host key, pinned
  cp -L "$R/vmlinuz" "$IMG/vmlinuz"
  cp -L "$R/initrd.img" "$IMG/initrd.img"
  echo "$HOSTALIAS $(cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub")" >"$IMG/known_hosts"

  # an ext4 image straight from the tree: no loop devices, no mounts
  local used_mb size_mb
  used_mb=$(du -sm "$R" | cut -f1)
  size_mb=$((used_mb + 2048 > 4096 ? used_mb + 2048 : 4096))
  log "mkfs.ext4 -d (tree ${used_mb} MiB, image ${size_mb} MiB sparse) ..."
  mkfs.ext4 -q -F -L nsbox-root -d "$R" "$IMG/base.img.tmp" "${size_mb}M" >>"$IMG/build.log" 2>&1 ||
    die "mkfs.ext4 failed (see $IMG/build.log)"
  mv "$IMG/base.img.tmp" "$IMG/base.img"
  rm -rf "$R"
  image_hash >"$IMG/stamp"
  log "image built in $(since "$t0"): $IMG/base.img ($(du -h "$IMG/base.img" | cut -f1) on disk)"
}

# ---------------------------------------------------------------- running VM
qemu_pid() { # prints the pid of this state dir's qemu, or fails
  local pid
  [[ -s $STATE/qemu.pid ]] || return 1
  pid=$(<"$STATE/qemu.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse: it must be a qemu writing to our serial log
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STATE/serial.log" || return 1
  echo "$pid"
}

ssh_cmd() { # $1 = guest user; sets SSH (command + options) and DEST
  SSH=(ssh -F /dev/null -i "$IMG/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes
    -o HostKeyAlias="$HOSTALIAS" -o UserKnownHostsFile="$IMG/known_hosts" -o StrictHostKeyChecking=yes
    -o ControlPath="$STATE/ssh-$1.sock" -o ServerAliveInterval=5 -o ServerAliveCountMax=6
    -o LogLevel=ERROR -p "$(<"$STATE/port")")
  DEST=$1@127.0.0.1
}

start_master() { # a persistent multiplexed connection makes `run` cheap
  ssh_cmd "$1"
  [[ -S $STATE/ssh-$1.sock ]] && return 0
  # output to a file: a ControlPersist master holding the caller's pipe would hang $(...)
  timeout 60 "${SSH[@]}" -o ControlMaster=yes -o ControlPersist=yes -o ConnectTimeout=10 -fN "$DEST" \
    </dev/null >>"$STATE/ssh-master.log" 2>&1 || true
}

pick_accel() {
  case ${VM_ACCEL:-auto} in
  kvm | tcg) echo "$VM_ACCEL" ;;
  auto)
    # Hardware KVM needs kvm_intel or kvm_amd. Some nested sandboxes expose a
    # /dev/kvm backed by a paravirtual hypervisor (kvm_pvm) that cannot run a
    # stock Debian kernel: the guest hangs. Then only TCG is left.
    if [[ -w /dev/kvm ]] && [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]]; then
      echo kvm
    else
      echo tcg
    fi
    ;;
  *) die "VM_ACCEL must be auto, kvm or tcg" ;;
  esac
}

pick_port() {
  local p
  for p in $(seq 10022 10200); do
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || {
      echo "$p"
      return
    }
  done
  die "no free port in 10022-10200"
}

cmd_start() {
  local share=''
  while (($#)); do
    case $1 in
    --share)
      share=${2:?--share needs a directory}
      shift 2
      ;;
    *) die "start: unknown argument $1" ;;
    esac
  done
  if qemu_pid >/dev/null; then
    log "already running (pid $(qemu_pid))"
    return 0
  fi
  image_current || die "no current image: run 'vm.sh build' as root first"
  mkdir -p "$STATE"
  rm -f "$STATE"/ssh-*.sock "$STATE/qemu.pid"

  local accel
  local -a accel_args
  accel=$(pick_accel)
  if [[ $accel == kvm ]]; then
    accel_args=(-accel kvm -cpu host)
  else
    # la57 off: 4-level paging is cheaper to emulate than 5-level
    accel_args=(-accel "tcg,thread=multi,tb-size=${VM_TCG_TB_MB:-256}" -cpu "max,la57=off")
  fi

  local cmdline="console=ttyS0,115200 root=/dev/vda rw rootfstype=ext4 fsck.mode=skip net.ifnames=0"
  cmdline+=" systemd.unified_cgroup_hierarchy=1 panic=-1 tsc=reliable mitigations=off"
  [[ ${VM_DEBUG:-0} == 1 ]] || cmdline+=" quiet loglevel=3 systemd.show_status=error"
  local -a share_args=()
  if [[ -n $share ]]; then
    share=$(realpath -e -- "$share") || die "no such directory: $share"
    [[ -d $share ]] || die "--share needs a directory: $share"
    [[ $share =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "share path must be simple (no spaces etc.): $share"
    case $share in
    / | /bin* | /boot* | /dev* | /etc* | /lib* | /proc* | /run* | /sbin* | /sys* | /usr* | /var | /var/lib* | /home | /tmp | /root)
      die "refusing to mount the share over the guest's $share" ;;
    esac
    cmdline+=" nsboxvm.share=$share nsboxvm.9pcache=${VM_9P_CACHE:-mmap}"
    share_args=(-fsdev "local,id=fs0,path=${share//,/,,},security_model=passthrough,multidevs=remap"
      -device "virtio-9p-pci,fsdev=fs0,mount_tag=hostshare")
  fi
  printf '%s\n' "$share" >"$STATE/share"

  local disk=$STATE/overlay.qcow2 port t0
  rm -f "$disk"
  qemu-img create -q -f qcow2 -F raw -b "$IMG/base.img" "$disk"
  port=$(pick_port)
  echo "$port" >"$STATE/port"
  : >"$STATE/serial.log"
  t0=$(now_ms)
  # restrict=on: the guest reaches nothing outside; ssh only on the host's loopback
  qemu-system-x86_64 -name nsbox-vm "${accel_args[@]}" -machine q35 -smp "$CPUS" -m "$MEM" \
    -nodefaults -no-user-config -display none -vga none \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -append "$cmdline" \
    -drive "file=${disk//,/,,},format=qcow2,if=virtio,cache=unsafe,discard=unmap" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -device virtio-rng-pci \
    "${share_args[@]}" \
    -serial "file:$STATE/serial.log" \
    -pidfile "$STATE/qemu.pid" -daemonize -no-reboot 2>"$STATE/qemu.err" ||
    die "qemu failed to start: $(tr '\n' ' ' <"$STATE/qemu.err")"
  log "qemu pid $(<"$STATE/qemu.pid") ($accel, $CPUS vCPU, $MEM MiB), ssh on 127.0.0.1:$port; booting ..."

  # ready = sshd answers (so the share is mounted) AND the user's systemd
  # instance has finished starting AND its bus is there
  ssh_cmd "$GUSER"
  local deadline=$((SECONDS + BOOT_TIMEOUT))
  # shellcheck disable=SC2016 # expanded in the guest
  until timeout 60 "${SSH[@]}" -o ConnectTimeout=5 -o ControlMaster=no "$DEST" \
    'timeout 50 systemctl --user is-system-running --wait >/dev/null 2>&1; test -S "$XDG_RUNTIME_DIR/bus"' \
    </dev/null 2>/dev/null; do
    if ! qemu_pid >/dev/null; then
      tail -20 "$STATE/serial.log" >&2
      die "qemu exited during boot (console: $STATE/serial.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -20 "$STATE/serial.log" >&2
      die "VM not ready after ${BOOT_TIMEOUT}s (console: $STATE/serial.log)"
    fi
    sleep 0.5
  done
  start_master "$GUSER"
  log "ready in $(since "$t0")"
}

cmd_run() {
  local user=$GUSER tty=-T
  while (($#)); do
    case $1 in
    --root) user=root ;;
    -t | --tty) tty=-tt ;;
    --) shift && break ;;
    *) break ;;
    esac
    shift
  done
  (($#)) || die "usage: vm.sh run [--root] [-t] -- CMD [ARGS...]"
  qemu_pid >/dev/null || die "VM not running (vm.sh start)"
  start_master "$user"
  local remote share
  remote=$(printf '%q ' "$@")
  share=$(<"$STATE/share")
  # inside the share on the host -> the same directory in the guest
  if [[ -n $share && ($PWD == "$share" || $PWD == "$share"/*) ]]; then
    remote="cd $(printf '%q' "$PWD") && $remote"
  fi
  exec "${SSH[@]}" -o ControlMaster=auto -o ControlPersist=no -o ConnectTimeout=10 "$tty" "$DEST" -- "$remote"
}

cmd_shell() {
  local -a a=()
  [[ ${1:-} == --root ]] && a=(--root)
  cmd_run "${a[@]}" -t -- bash -l
}

cmd_stop() {
  local pid t0 i now=0
  [[ ${1:-} == --now ]] && now=1
  if ! pid=$(qemu_pid); then
    log "not running"
  else
    t0=$(now_ms)
    if ((!now)); then
      ssh_cmd root
      timeout 20 "${SSH[@]}" -o ControlMaster=auto -o ControlPersist=no -o ConnectTimeout=5 "$DEST" \
        'systemctl poweroff --no-block' </dev/null >/dev/null 2>&1 || log "poweroff over ssh failed"
      for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    if kill -0 "$pid" 2>/dev/null; then
      ((now)) || log "guest did not power off in 60s: SIGTERM to qemu $pid"
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped in $(since "$t0")"
  fi
  local u
  for u in "$GUSER" root; do
    if [[ -S $STATE/ssh-$u.sock ]]; then
      timeout 10 ssh -o ControlPath="$STATE/ssh-$u.sock" -O exit x >/dev/null 2>&1 || true
    fi
    rm -f "$STATE/ssh-$u.sock"
  done
  rm -f "$STATE/qemu.pid" "$STATE/overlay.qcow2"
}

cmd_status() {
  local pid
  if pid=$(qemu_pid); then
    echo "running: pid $pid, ssh 127.0.0.1:$(<"$STATE/port"), share: $(<"$STATE/share")"
    ps -o rss= -p "$pid" | awk '{printf "qemu RSS %d MiB\n", $1/1024}'
  else
    echo "stopped"
    return 3
  fi
}

main() {
  local c=${1:-}
  shift || true
  case $c in
  build) cmd_build "$@" ;;
  built) image_current ;;
  start) cmd_start "$@" ;;
  run) cmd_run "$@" ;;
  shell) cmd_shell "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  log) cat "$STATE/serial.log" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
  esac
}
main "$@"
