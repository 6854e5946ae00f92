#!/bin/sh
# Builds the test probe (tests/probe/probe.c), a static program that runs
# inside a sandbox and prints what it sees as JSON; static so that it also
# runs in an empty --rootfs.
set -eu
cd "$(dirname "$0")/.."
src=tests/probe/probe.c out=tests/probe/build/probe
[ -f "$src" ] || exit 0
if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
  mkdir -p tests/probe/build
  ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -O2 -static -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
fi
