#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time (default 60 s) from the seed
# corpus in tests/fuzz/corpus; any crash, leak or sanitizer finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CC=clang meson setup build-fuzz -Dfuzz=true -Dgst=disabled -Db_sanitize=address,undefined \
  -Db_lundef=false -Dwerror=true >/dev/null 2>&1 ||
  CC=clang meson setup build-fuzz -Dfuzz=true -Dgst=disabled -Db_sanitize=address,undefined \
    -Db_lundef=false -Dwerror=true
ninja -C build-fuzz tests/fuzz_uri tests/fuzz_headers tests/fuzz_errjson tests/fuzz_list
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in uri headers errjson list; do
  mkdir -p "$work/$t"
  cp tests/fuzz/corpus/$t/* "$work/$t/"
  echo "fuzzing $t for $secs s"
  UBSAN_OPTIONS=halt_on_error=1 ./build-fuzz/tests/fuzz_$t -max_total_time="$secs" -max_len=4096 \
    -timeout=10 -artifact_prefix="$work/" -print_final_stats=1 "$work/$t" 2>"$work/$t.log" || {
    tail -50 "$work/$t.log"
    echo "fuzz_$t found a problem"
    exit 1
  }
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$t.log" || true
done
echo "fuzzing passed"
