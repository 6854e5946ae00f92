#!/bin/sh
# Runs nsbox's tests: `deno task test` (the README's test command runs
# `deno task ok`, which ends here). nsbox is rootless, so when this runs as
# root it creates an unprivileged user (nsbox-test) and runs the tests as that
# user; the integration tests refuse to run as root.
#
#   scripts/test.sh [deno test args...]     e.g. scripts/test.sh tests/unit/
set -eu
. "$(dirname "$0")/lib/env.sh"
cd "$NSBOX_ROOT"
sh scripts/build_probe.sh
# The test build: the C helper and supervisor with the fault-injection seam (NSBOX_FAULT, tests/integration/faults_test.ts).
[ -e ffi/build/.fault-injection ] || NSBOX_FAULTS=1 sh scripts/build.sh >&2

default_selection=0
if [ "$#" -eq 0 ]; then
  # tests/soak/ with its small counts (deno task soak runs the full ones)
  for d in tests/unit/ tests/integration/ tests/security/ tests/soak/; do [ -d "$d" ] && set -- "$@" "$d"; done
  default_selection=1
fi

# A sandbox hides the host's /tmp, /var/tmp and /run behind its own: a
# checkout there is invisible to the programs the tests run inside (the
# probe, Deno). Such a checkout is tested from a copy elsewhere.
hidden_in_sandbox() {
  case $1/ in /tmp/* | /var/tmp/* | /run/*) return 0 ;; *) return 1 ;; esac
}

if [ "$(id -u)" != 0 ]; then
  if hidden_in_sandbox "$NSBOX_ROOT"; then
    mkdir -p "$HOME/.cache"
    copy=$(mktemp -d "$HOME/.cache/nsbox-test-tree.XXXXXX")
    cp -a "$NSBOX_ROOT/." "$copy/"
    echo "test: $NSBOX_ROOT is hidden inside sandboxes; testing a copy in $copy" >&2
    cd "$copy"
    rc=0
    "$copy${DENO#"$NSBOX_ROOT"}" test -A --no-check --quiet "$@" || rc=$?
    rm -rf "$copy"
    exit "$rc"
  fi
  exec "$DENO" test -A --no-check --quiet "$@"
fi

# What the tests drive besides nsbox: --map-users (newuidmap/newgidmap),
# --net (pasta, slirp4netns), the test host (ip), terminals (script), completions (zsh, fish).
. "$NSBOX_ROOT/scripts/lib/packages.sh"
nsbox_install_missing newuidmap:uidmap pasta:passt slirp4netns:slirp4netns ip:iproute2 script:util-linux zsh:zsh fish:fish

# One run at a time on a machine: runs share the test users, the test host's
# network namespace and addresses.
exec 9>/tmp/nsbox-test.lock
if ! flock -n 9; then
  echo "test: waiting for another scripts/test.sh run to finish ..." >&2
  flock 9
fi

user=${NSBOX_TEST_USER:-nsbox-test}
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$user"
  echo "test: created unprivileged user $user" >&2
fi
# Give the user subordinate ids for --map-users tests (only if it has none).
for f in /etc/subuid /etc/subgid; do
  [ -e "$f" ] || : >"$f"
  grep -q "^$user:" "$f" || echo "$user:300000:65536" >>"$f"
done
# A test host for the networking tests: a network namespace behind a veth
# pair, on TEST-NET-2 addresses (nothing outside this machine), with a TCP
# and UDP echo server. Removed when the tests end.
th_ns=nsbox-testhost th_pid=
testhost_down() {
  [ -n "$th_pid" ] && kill $th_pid 2>/dev/null
  # servers a killed run left in it (they hold nothing of ours: started without the lock's fd 9)
  ip netns pids "$th_ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$th_ns" 2>/dev/null || true
  ip link del nsbox-th0 2>/dev/null || true
}
testhost_up() {
  command -v ip >/dev/null || return 1
  testhost_down
  ip netns add "$th_ns" &&
    ip link add nsbox-th0 type veth peer name nsbox-th1 &&
    ip link set nsbox-th1 netns "$th_ns" &&
    ip addr add 198.51.100.1/24 dev nsbox-th0 && ip link set nsbox-th0 up &&
    ip netns exec "$th_ns" ip addr add 198.51.100.2/24 dev nsbox-th1 &&
    ip netns exec "$th_ns" ip link set nsbox-th1 up &&
    ip netns exec "$th_ns" ip link set lo up &&
    ip netns exec "$th_ns" ip route add default via 198.51.100.1 || return 1
  ip netns exec "$th_ns" "$DENO" run -A --unstable-net --quiet "$NSBOX_ROOT/tests/integration/_net_tool.ts" \
    echo-server 198.51.100.2 7 </dev/null >/dev/null 2>&1 9>&- &
  th_pid=$!
  ip netns exec "$th_ns" "$DENO" run -A --unstable-net --quiet "$NSBOX_ROOT/tests/integration/_net_tool.ts" \
    dns-server 198.51.100.2 53 198.51.100.7 </dev/null >/dev/null 2>&1 9>&- &
  th_pid="$th_pid $!"
  ip netns exec "$th_ns" "$DENO" run -A --quiet "$NSBOX_ROOT/tests/integration/_net_tool.ts" \
    http-server 198.51.100.2 80 </dev/null >/dev/null 2>&1 9>&- &
  th_pid="$th_pid $!"
}
testhost=
if testhost_up; then
  testhost=198.51.100.2
  echo "test: test host $testhost (network namespace $th_ns) with TCP/UDP echo on port 7, HTTP on port 80" >&2
else
  testhost_down
  echo "test: could not create the network test host; tests that need it are skipped" >&2
fi
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 666 /dev/net/tun
  echo "test: made /dev/net/tun usable by every user (mode 0666, the distribution default)" >&2
fi

home=$(getent passwd "$user" | cut -d: -f6)
deno_dir=$home/.cache/deno
runuser -u "$user" -- mkdir -p "$deno_dir"

tree=$NSBOX_ROOT tree_copy=
if ! runuser -u "$user" -- test -r "$tree/main.ts" -a -x "$DENO" || hidden_in_sandbox "$tree"; then
  # The checkout is not readable by the test user (e.g. under /root), or is
  # hidden inside sandboxes (under /tmp): test a copy where both test users
  # can read it and sandboxes see it.
  mkdir -p /var/lib/nsbox-test
  chmod 755 /var/lib/nsbox-test
  tree=$(mktemp -d /var/lib/nsbox-test/tree.XXXXXX) tree_copy=1
  cp -a "$NSBOX_ROOT/." "$tree/"
  chown -R "$user" "$tree"
  chmod 755 "$tree"
  trap 'rm -rf "$tree"; testhost_down' EXIT
  echo "test: testing a copy of the checkout in $tree (readable by $user, visible inside sandboxes)" >&2
fi
[ -n "$tree_copy" ] || trap testhost_down EXIT
cd "$tree"
deno=$tree${DENO#"$NSBOX_ROOT"}
# With the test host, the tests see a resolv.conf that names its DNS server
# (in a mount namespace of their own: the host's file is untouched), so DNS
# through pasta and slirp4netns is tested without leaving the machine; and an
# /etc/hosts with names for the egress proxy's tests (--allow-host), which
# resolves names on the host's side: two for the test host, and names of a
# loopback, a link-local and a private address.
set -- runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
  PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin TERM="${TERM:-dumb}" DENO_DIR="$deno_dir" NO_COLOR=1 \
  CI="${CI:-}" NSBOX_TEST_HOST="$testhost" NSBOX_TEST_DNS="${testhost:+198.51.100.7}" \
  "$deno" test -A --no-check --quiet "$@"
if [ -n "$testhost" ]; then
  resolv=$(mktemp /tmp/nsbox-test-resolv.XXXXXX) hosts=$(mktemp /tmp/nsbox-test-hosts.XXXXXX)
  echo "nameserver $testhost" >"$resolv"
  { cat /etc/hosts; printf '%s\n' "$testhost allowed.nsbox.test denied.nsbox.test" \
    "127.0.0.1 loopback.nsbox.test" "169.254.169.254 metadata.nsbox.test" "10.1.2.3 private.nsbox.test"; } >"$hosts"
  chmod 644 "$resolv" "$hosts"
  rc=0
  # shellcheck disable=SC2016
  # (fd 9, the lock, is not passed on: a process a test leaves behind must not hold it)
  unshare -m --propagation private sh -c 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts &&
    shift 2 && exec "$@"' sh "$resolv" "$hosts" "$@" 9>&- ||
    rc=$?
  rm -f "$resolv" "$hosts"
  [ "$rc" = 0 ] || exit "$rc"
else
  "$@" 9>&-
fi
# Tests that need two users: root switches between them (every nsbox still
# runs unprivileged). Only with the default selection of tests.
if [ "$default_selection" = 1 ]; then
  NO_COLOR=1 "$deno" test -A --no-check --quiet tests/multiuser/ 9>&-
fi
