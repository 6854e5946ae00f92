# Sourced by scripts/*: puts a Deno binary in $DENO (installing the pinned one
# from the npm registry on first use) and builds the C helper when it is
# missing or older than its sources. Needs: node/npm, cc.
NSBOX_ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

nsbox_find_deno() {
  for d in "$NSBOX_ROOT"/node_modules/@deno/linux-*/deno "$NSBOX_ROOT/node_modules/.bin/deno"; do
    if [ -x "$d" ] && [ "$(head -c 4 "$d" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# node_modules is (re)installed when package.json changed since the last
# install: the versions are pinned exactly there. Not `npm ci`: npm configured
# with omit-lockfile-registry-resolved (as on these machines) writes a lock
# without the other platforms' optional packages, which `npm ci` then refuses.
stamp="$NSBOX_ROOT/node_modules/.nsbox-installed"
if ! DENO=$(nsbox_find_deno) || ! cmp -s "$NSBOX_ROOT/package.json" "$stamp"; then
  echo "nsbox: installing Deno from the npm registry (npm install) ..." >&2
  (cd "$NSBOX_ROOT" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >&2)
  DENO=$(nsbox_find_deno) || { echo "nsbox: npm install did not install a Deno binary" >&2; exit 125; }
  cp "$NSBOX_ROOT/package.json" "$stamp"
fi
export DENO

nsbox_stale() { # $1 built from ffi/nsbox_helper.[ch] or ffi/nsbox_supervise.c is missing or older than them
  [ ! -f "$1" ] || [ "$NSBOX_ROOT/ffi/nsbox_helper.c" -nt "$1" ] || [ "$NSBOX_ROOT/ffi/nsbox_helper.h" -nt "$1" ] ||
    [ "$NSBOX_ROOT/ffi/nsbox_supervise.c" -nt "$1" ]
}
if nsbox_stale "$NSBOX_ROOT/ffi/build/libnsbox_helper.so" || nsbox_stale "$NSBOX_ROOT/ffi/build/nsbox-init"; then
  sh "$NSBOX_ROOT/scripts/build.sh" >&2 || { echo "nsbox: cannot build the C helper (is cc installed, with a static C library?)" >&2; exit 125; }
fi

# The bundled entry is rebuilt when a source is newer than it (or than its last failed build); main.ts checks
# each input exactly before it starts the bundle, so a stale one is never run.
nsbox_bundle_stale() {
  b="$NSBOX_ROOT/dist/bundle/inputs.json" f="$NSBOX_ROOT/dist/bundle/failed"
  [ -f "$f" ] && [ ! "$b" -nt "$f" ] && b=$f
  [ -f "$b" ] || return 0
  for s in "$NSBOX_ROOT"/main.ts "$NSBOX_ROOT"/deno.json "$NSBOX_ROOT"/ffi/*.ts "$NSBOX_ROOT"/src/*.ts "$NSBOX_ROOT"/src/*/*.ts; do
    [ "$s" -nt "$b" ] && return 0
  done
  return 1
}
if nsbox_bundle_stale; then
  sh "$NSBOX_ROOT/scripts/lib/bundle.sh" "$DENO"
fi
