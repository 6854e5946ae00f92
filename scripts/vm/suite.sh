#!/usr/bin/env bash
# suite.sh - runs the VM test suite (tests/vm/) in a throwaway Debian VM.
#
#   scripts/vm/suite.sh [DENO TEST ARGS...]     e.g. --filter testbed
#
# Builds the image if needed, boots a VM of its own sharing this checkout at
# the same path, runs `deno test tests/vm/` inside as `user` in its login
# session, and always stops the VM again. Exit status: that of the tests;
# 0 with one "vm suite skipped: REASON" line when the machine cannot run the
# VM (no qemu, image missing and not root, build or boot failed).
#
# Environment: VM_HOME (see vm.sh), VM_TEST_TIMEOUT=900 (seconds for the
# tests), VM_DENO_CHECK=1 to type-check in the guest too (~18 s under TCG;
# the host type-checks tests/vm/ before booting anyway).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VM=$HERE/vm.sh
export VM_HOME=${VM_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/nsbox-vm}
# a VM of its own: never reuses or stops one started by hand with vm.sh
export VM_STATE=$VM_HOME/suite-state
HOST_DENO_DIR=$VM_HOME/deno-dir # built on the host, copied into the guest
TESTS=tests/vm/

# in the guest
GUEST_BIN=/home/user/.local/bin # the deno binary: exec over 9p costs 1-4 s a start
GUEST_DENO_DIR=/home/user/.cache/deno

say() { printf '[suite %s] %s\n' "$(date +%T)" "$*" >&2; }
skip() {
  echo "vm suite skipped: $*"
  exit 0
}
now_ms() { date +%s%3N; }
secs() { # ms -> "12.3s"
  printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100))
}

exec </dev/null                 # nothing here reads the caller's stdin (which may be closed)
[[ -t 1 ]] || export NO_COLOR=1 # for deno, on the host and in the guest
cd "$ROOT"                      # `vm.sh run` then starts in the same directory in the guest

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
# What scripts/test.sh prepares too: $DENO (npm ci if missing), the C helper,
# the test probe. env.sh finds the checkout from $0, hence the "scripts/suite".
DENO=$(sh -c '. scripts/lib/env.sh && echo "$DENO"' scripts/suite) || exit 2
DENO=$(realpath "$DENO")
[[ $DENO == "$ROOT"/* ]] || {
  echo "vm suite: $DENO is outside the checkout, so the guest cannot see it" >&2
  exit 2
}
sh scripts/build_probe.sh || exit 2
# The test build, as scripts/test.sh makes it: the C helper and supervisor with the fault-injection seam
# (NSBOX_FAULT, tests/vm/faults_test.ts). The guest runs these very files over the share.
[[ -e ffi/build/.fault-injection ]] || NSBOX_FAULTS=1 sh scripts/build.sh >&2 || exit 2
mkdir -p "$VM_STATE"
exec 8>"$VM_HOME/suite.lock" # fd 8 is closed for vm.sh: qemu and ssh must not hold the lock
flock -w 1200 8 || skip "another VM suite held $VM_HOME/suite.lock for 20 minutes"

vm() { "$VM" "$@" 8>&-; }

# Long steps run in the background while the script waits: a signal then
# reaches the trap at once instead of after the step; the trap kills it.
# (<&0: keep stdin, which a background command would get from /dev/null.)
CHILD=''
in_bg() {
  "$@" <&0 &
  await_child
}
await_child() {
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=''
  return "$rc"
}

VM_STARTED=0
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local rc=$?
  if [[ -n $CHILD ]]; then kill "$CHILD" 2>/dev/null || true; fi
  if ((VM_STARTED)); then
    vm stop --now || true # the overlay is thrown away: no need to shut down cleanly
    if vm status >/dev/null 2>&1; then say "WARNING: the VM is still running"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

t_start=$(now_ms)
build_ms=0
if ! vm built; then
  [[ $EUID -eq 0 ]] || skip "the VM image is not built, and building it needs root (sudo $VM build)"
  t0=$(now_ms)
  in_bg "$VM" build 8>&- || skip "building the VM image failed (see $VM_HOME/image/build.log)"
  build_ms=$(($(now_ms) - t0))
fi

# Type-check and cache the tests' dependencies on the host (fast), into a
# DENO_DIR that is then copied into the guest (which has no network).
say "deno test --no-run $TESTS (host) ..."
DENO_DIR=$HOST_DENO_DIR in_bg "$DENO" test --no-run -A --unstable-raw-imports "$TESTS" || {
  echo "vm suite: $TESTS does not type-check on the host" >&2
  exit 1
}

VM_STARTED=1
vm stop --now >/dev/null 2>&1 || true # a leftover from a killed run
t0=$(now_ms)
# (inline, not in_bg: the redirection must apply to vm.sh alone, not to the
# trap's output as well)
"$VM" start --share "$ROOT" 2>"$VM_STATE/start.log" 8>&- &
await_child || {
  cat "$VM_STATE/start.log" >&2
  skip "the VM did not boot: $(sed -n 's/.*ERROR: //p' "$VM_STATE/start.log" | tail -n1)"
}
cat "$VM_STATE/start.log" >&2
boot_ms=$(($(now_ms) - t0))

say "copying deno and DENO_DIR into the guest ..."
t0=$(now_ms)
copy_in() {
  # shellcheck disable=SC2016 # expanded in the guest
  in_bg timeout 300 "$VM" run -- sh -ec 'mkdir -p "$1" "$2"; cp "$3" "$1/deno"; tar -C "$2" -xf -' \
    sh "$GUEST_BIN" "$GUEST_DENO_DIR" "$DENO" \
    < <(tar -C "$HOST_DENO_DIR" -cf - .) 8>&-
}
# The VM runs: failing to get Deno into it is a failure of the suite, not a
# reason to skip (one retry for a share that was busy).
copy_in || { sleep 2 && copy_in; } || {
  echo "vm suite failed: could not copy deno into the guest" >&2
  exit 1
}
copy_ms=$(($(now_ms) - t0))

check=--no-check
[[ ${VM_DENO_CHECK:-0} == 1 ]] && check=
say "deno test $TESTS (guest) ..."
t0=$(now_ms)
rc=0
in_bg timeout "${VM_TEST_TIMEOUT:-900}" "$VM" run -- \
  env DENO_DIR="$GUEST_DENO_DIR" ${NO_COLOR:+NO_COLOR=1} PATH="$GUEST_BIN:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
  deno test -A --unstable-raw-imports ${check:+"$check"} "$@" "$TESTS" </dev/null 8>&- || rc=$?
test_ms=$(($(now_ms) - t0))
case $rc in
0) ;;
124) say "the tests did not finish in ${VM_TEST_TIMEOUT:-900}s" ;;
255) say "lost the ssh connection to the VM" ;;
*) say "the tests failed (exit $rc)" ;;
esac

say "times: build $( ((build_ms)) && secs "$build_ms" || echo cached)," \
  "boot $(secs "$boot_ms"), copy $(secs "$copy_ms"), tests $(secs "$test_ms")," \
  "total $(secs $(($(now_ms) - t_start))) (+ stop)"
exit "$rc"
