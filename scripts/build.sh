#!/bin/sh
# Builds the C helper into ffi/build/libnsbox_helper.so (embedded by ffi/helper.ts).
set -eu
cd "$(dirname "$0")/.."
mkdir -p ffi/build
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -shared -fvisibility=hidden \
  -o ffi/build/libnsbox_helper.so.tmp ffi/nsbox_helper.c
mv ffi/build/libnsbox_helper.so.tmp ffi/build/libnsbox_helper.so
