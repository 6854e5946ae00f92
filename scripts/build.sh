#!/bin/sh
# Builds the C helper into ffi/build/libnsbox_helper.so and, from the same
# source, the static nsbox-init (ffi/build/nsbox-init: the sandbox's PID 1, and
# with ffi/nsbox_supervise.c the native supervisor nsbox execs once the command runs);
# both are embedded by src/spawn/embedded.ts.
#
# nsbox-init is linked against musl where musl-gcc is installed (Debian
# package musl-tools): 25 KB instead of glibc's 700 KB, which every start
# reads and copies into a memfd, and less resident memory for PID 1. The
# kernel's UAPI headers (linux/, asm/) come from the system's include
# directories after musl's own. Without musl-gcc, glibc's static library.
set -eu
cd "$(dirname "$0")/.."
mkdir -p ffi/build
flags="-std=gnu11 -Wall -Wextra -Werror"
# The test build (scripts/test.sh: NSBOX_FAULTS=1) compiles in the fault-injection seam: only then does nsbox
# honour NSBOX_FAULT=STEP[:SIGNAL] (src/spawn/fault.ts). ffi/build/.fault-injection marks such a build, so that
# a release (scripts/compile.sh) rebuilds without it.
if [ "${NSBOX_FAULTS:-}" = 1 ]; then flags="$flags -DNSBOX_FAULTS"; fi
${CC:-cc} $flags -O2 -fPIC -shared -fvisibility=hidden -o ffi/build/libnsbox_helper.so.tmp ffi/nsbox_helper.c
if command -v musl-gcc >/dev/null 2>&1 && [ -z "${NSBOX_INIT_LIBC:-}" ] || [ "${NSBOX_INIT_LIBC:-}" = musl ]; then
  multiarch=$(${CC:-cc} -dumpmachine)
  musl-gcc $flags -Os -static -s -DNSBOX_STATIC_INIT -idirafter /usr/include -idirafter "/usr/include/$multiarch" \
    -o ffi/build/nsbox-init.tmp ffi/nsbox_helper.c ffi/nsbox_supervise.c
else
  ${CC:-cc} $flags -O2 -static -s -DNSBOX_STATIC_INIT -o ffi/build/nsbox-init.tmp ffi/nsbox_helper.c ffi/nsbox_supervise.c
fi
mv ffi/build/libnsbox_helper.so.tmp ffi/build/libnsbox_helper.so
mv ffi/build/nsbox-init.tmp ffi/build/nsbox-init
if [ "${NSBOX_FAULTS:-}" = 1 ]; then : >ffi/build/.fault-injection; else rm -f ffi/build/.fault-injection; fi
# The bundled entry (dist/bundle/nsbox.js, see scripts/bundle.ts): main.ts starts it while it is current, the
# source modules otherwise, so a failure here only costs start-up time.
DENO=${DENO:-$(ls node_modules/@deno/linux-*/deno 2>/dev/null | head -n 1)}
sh scripts/lib/bundle.sh "$DENO"
