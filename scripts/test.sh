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

if [ "$#" -eq 0 ]; then set -- tests/unit/ tests/integration/; fi

if [ "$(id -u)" != 0 ]; then
  exec "$DENO" test -A --no-check --quiet "$@"
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
home=$(getent passwd "$user" | cut -d: -f6)
deno_dir=$home/.cache/deno
runuser -u "$user" -- mkdir -p "$deno_dir"

tree=$NSBOX_ROOT
if ! runuser -u "$user" -- test -r "$tree/main.ts" -a -x "$DENO"; then
  # The checkout is not readable by the test user (e.g. under /root): test a copy.
  tree=$(mktemp -d /tmp/nsbox-test-tree.XXXXXX)
  cp -a "$NSBOX_ROOT/." "$tree/"
  chown -R "$user" "$tree"
  chmod 755 "$tree"
  trap 'rm -rf "$tree"' EXIT
  echo "test: checkout not readable by $user; testing a copy in $tree" >&2
fi
cd "$tree"
deno=$tree${DENO#"$NSBOX_ROOT"}
runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
  TERM="${TERM:-dumb}" DENO_DIR="$deno_dir" NO_COLOR=1 CI="${CI:-}" \
  "$deno" test -A --no-check --quiet "$@"
