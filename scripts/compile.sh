#!/bin/sh
# Builds the single nsbox binary (dist/nsbox) with `deno compile`. The C
# helper is embedded through its bytes import, exactly as when running from
# source. `deno compile` downloads Deno's runtime from Deno's own server: this
# works only where that server is reachable.
set -eu
. "$(dirname "$0")/lib/env.sh"
cd "$NSBOX_ROOT"
mkdir -p dist
# Never a test build (scripts/test.sh's, with the fault-injection seam) in a release.
if [ -e ffi/build/.fault-injection ]; then NSBOX_FAULTS= sh scripts/build.sh; fi
# The bundles main.ts starts, made from these very sources: the binary embeds them (main.ts imports them, and
# src/cli/main.ts when they are missing, through computed specifiers: named here).
rm -rf dist/bundle
sh scripts/lib/bundle.sh "$DENO"
bundles=
for b in dist/bundle/run.js dist/bundle/nsbox.js; do
  if [ -f "$b" ]; then bundles="$bundles --include $b"; fi
done
# --v8-flags: src/spawn/daemon.ts's DENO_RUN_ARGS (tests/unit/deno_flags_test.ts keeps them in step).
# --exclude node_modules: nsbox imports no npm package; without it the binary embedded node_modules whole (the
# pinned Deno from npm: 95 MB, against 1.4 MB of nsbox's own files).
"$DENO" compile -A --unstable-raw-imports --v8-flags=--no-lazy,--no-sparkplug,--no-maglev,--no-turbofan,--single-threaded --include src/cli/main.ts $bundles --exclude node_modules --output dist/nsbox main.ts
echo "built dist/nsbox"
