#!/usr/bin/env bash
# The test command: a -Werror build and its tests, then the same under
# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

meson setup build --wipe -Dwerror=true -Dbuildtype=debugoptimized >/dev/null 2>&1 ||
  meson setup build -Dwerror=true -Dbuildtype=debugoptimized
ninja -C build -j "$jobs"
meson test -C build --print-errorlogs --num-processes "$jobs"

meson setup build-asan --wipe -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1 ||
  meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes "$jobs" --suite lib --suite gst
# install into a staging prefix; build the examples against the installed pkg-config files
bash tests/install-check.sh

# ThreadSanitizer over the library's tests (thread mode and the dispatcher)
meson setup build-tsan --wipe -Db_sanitize=thread -Db_lundef=false -Dgst=disabled >/dev/null 2>&1 ||
  meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dgst=disabled
ninja -C build-tsan -j "$jobs"
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --print-errorlogs --num-processes "$jobs" --suite lib

# libFuzzer targets for a bounded time each (clang)
bash tests/fuzz.sh "${FUZZ_SECONDS:-60}"
echo "all tests passed"
