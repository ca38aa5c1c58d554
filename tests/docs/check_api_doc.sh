#!/bin/sh
# Every function of the public header has its section in docs/api.md, and
# every section names a function that exists.
set -eu
header=$1
doc=$2
fail=0
funcs=$(sed -n 's/^AISFETCH_API[^(]*[ *]\(aisfetch_[a-z_]*\)(.*/\1/p' "$header" | sort -u)
[ -n "$funcs" ] || { echo "no AISFETCH_API functions found in $header"; exit 1; }
for f in $funcs; do
  grep -q "^### $f\$" "$doc" || { echo "docs/api.md lacks a section for $f"; fail=1; }
done
for s in $(sed -n 's/^### \(aisfetch_[a-z_]*\)$/\1/p' "$doc"); do
  echo "$funcs" | grep -qx "$s" || { echo "docs/api.md documents $s, which the header does not have"; fail=1; }
done
[ $fail = 0 ] && echo "$(echo "$funcs" | wc -l) functions documented"
exit $fail
