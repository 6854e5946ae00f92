#!/bin/sh
# Builds the C helper into ffi/build/libnsbox_helper.so and, from the same
# source, the static nsbox-init (ffi/build/nsbox-init, the sandbox's PID 1);
# both are embedded by src/spawn/embedded.ts.
set -eu
cd "$(dirname "$0")/.."
mkdir -p ffi/build
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -shared -fvisibility=hidden \
  -o ffi/build/libnsbox_helper.so.tmp ffi/nsbox_helper.c
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -O2 -static -s -DNSBOX_STATIC_INIT \
  -o ffi/build/nsbox-init.tmp ffi/nsbox_helper.c
mv ffi/build/libnsbox_helper.so.tmp ffi/build/libnsbox_helper.so
mv ffi/build/nsbox-init.tmp ffi/build/nsbox-init
