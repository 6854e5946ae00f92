# Sourced by scripts/*: puts a Deno binary in $DENO (installing the pinned one
# from the npm registry on first use) and builds the C helper when it is
# missing or older than its sources. Needs: node/npm, cc.
#
# It runs before every scripts/nsbox, so the common case runs no program but
# the shell (each one costs about a millisecond): `readlink` only for a
# symlinked script, the ELF check only for node_modules/.bin/deno, `cmp` only
# when package.json is newer than the last install.

# The checkout: the caller's $0 is a script in scripts/ (or a symlink to one, as in PATH); physical, not logical.
nsbox_self=$0
if [ -L "$nsbox_self" ]; then nsbox_self=$(readlink -f "$nsbox_self"); fi
case $nsbox_self in */*) nsbox_self=${nsbox_self%/*} ;; *) nsbox_self=. ;; esac
NSBOX_ROOT=$(cd -P "$nsbox_self/.." && pwd -P)

# Sets DENO to the pinned Deno binary; fails when there is none.
nsbox_find_deno() {
  for d in "$NSBOX_ROOT"/node_modules/@deno/linux-*/deno; do
    if [ -f "$d" ] && [ -x "$d" ]; then
      DENO=$d
      return 0
    fi
  done
  # npm's bin link may be a JavaScript shim rather than the binary: only an ELF file will do
  d=$NSBOX_ROOT/node_modules/.bin/deno
  if [ -x "$d" ] && [ "$(head -c 4 "$d" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    DENO=$d
    return 0
  fi
  return 1
}

# node_modules is (re)installed when package.json changed since the last
# install: the versions are pinned exactly there. Not `npm ci`: npm configured
# with omit-lockfile-registry-resolved (as on these machines) writes a lock
# without the other platforms' optional packages, which `npm ci` then refuses.
# The stamp is a copy of package.json made after the install: a package.json newer than it is compared.
stamp="$NSBOX_ROOT/node_modules/.nsbox-installed"
nsbox_installed() {
  [ -f "$stamp" ] && { [ ! "$NSBOX_ROOT/package.json" -nt "$stamp" ] || cmp -s "$NSBOX_ROOT/package.json" "$stamp"; }
}
if ! nsbox_find_deno || ! nsbox_installed; then
  echo "nsbox: installing Deno from the npm registry (npm install) ..." >&2
  (cd "$NSBOX_ROOT" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >&2)
  nsbox_find_deno || { echo "nsbox: npm install did not install a Deno binary" >&2; exit 125; }
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
