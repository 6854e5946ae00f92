# Sourced by scripts/test.sh and .ci/run: as root, installs the Debian
# packages a test run uses when their programs are missing (a fresh machine
# of this kind has none of them). Each argument is PROGRAM:PACKAGE.
#   nsbox_install_missing newuidmap:uidmap pasta:passt
nsbox_install_missing() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  _pkgs=
  for _pair in "$@"; do
    command -v "${_pair%%:*}" >/dev/null 2>&1 || _pkgs="$_pkgs ${_pair#*:}"
  done
  [ -n "$_pkgs" ] || return 0
  echo "test: installing$_pkgs (apt-get) ..." >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $_pkgs; } >/tmp/nsbox-apt.log 2>&1; then
    echo "test: could not install$_pkgs (see /tmp/nsbox-apt.log); tests that need them are skipped" >&2
  fi
}
