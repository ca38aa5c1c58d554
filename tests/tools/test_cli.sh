#!/usr/bin/env bash
# aisfetch as a user meets it: output files, offsets, units, exit codes,
# interruption without a partial file, help and man page in step.
set -u
cli=$1; emulator=$2; python=$3; man=$4
work=$(mktemp -d)
emu_pid=""
fail=0
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

"$python" "$emulator" --port 0 --ready-file "$work/ready" --quiet >/dev/null &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
ep=$(cat "$work/ready")
export AIS_ENDPOINT=$ep
curl -sf -X PUT "$ep/_emu/objects/b/data.bin?size=2500000&seed=5" >/dev/null
curl -sfL "$ep/v1/objects/b/data.bin?provider=ais" -o "$work/ref.bin"
check "reference download" '[ "$(stat -c %s "$work/ref.bin")" = 2500000 ]'

# help, and every long option of --help in the man page
"$cli" --help > "$work/help.txt"; check "--help exits 0" '[ $? = 0 ]'
for opt in $(grep -o -- '--[a-z][a-z-]*' "$work/help.txt" | sort -u); do
  esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
  grep -q -- "$esc" "$man" || { echo "FAIL: $opt is not in the man page"; fail=1; }
done

# to a file, through a temporary name; the summary line; no progress bar when not a terminal
(cd "$work" && "$cli" -n 4 -c 64KiB ais://b/data.bin 2> "$work/err.txt"); rc=$?
check "download exits 0" '[ $rc = 0 ]'
check "default output name" 'cmp -s "$work/ref.bin" "$work/data.bin"'
check "summary line" 'grep -q "2500000 bytes in .* MB/s, 4 workers, 39 ranges, 0 retries" "$work/err.txt"'
check "no progress bar when piped" '! grep -q $'"'"'\r'"'"' "$work/err.txt"'
check "no temporary file left" '[ -z "$(ls "$work" | grep part-)" ]'

# stdout, thread mode, verification, units
"$cli" -q -n 3 -c 100000 --worker-mode thread --verify-checksum -o - ais://b/data.bin > "$work/out.bin"
check "stdout" 'cmp -s "$work/ref.bin" "$work/out.bin"'
curl -sf -X POST "$ep/_emu/stats/reset" >/dev/null
"$cli" -q --offset 1MiB --length 100kb -c 16kb -o "$work/part.bin" ais://b/data.bin
dd if="$work/ref.bin" of="$work/ref-part.bin" bs=1 skip=1048576 count=100000 status=none
check "offset and length" 'cmp -s "$work/ref-part.bin" "$work/part.bin"'
# a read that starts elsewhere does not ask for the object's first bytes
gets=$(curl -sf "$ep/_emu/stats" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["proxy"]["GET"])')
check "no first-bytes GET with --offset (proxy GETs: $gets)" '[ "$gets" = 0 ]'
"$cli" -q --offset 2499990 -o "$work/tail.bin" ais://b/data.bin
check "offset to the end" '[ "$(stat -c %s "$work/tail.bin")" = 10 ]'
"$cli" -q -o /dev/null ais://b/data.bin
check "/dev/null stays a device" '[ -c /dev/null ]'

# exit codes, one line each
"$cli" -q -o "$work/x" 'ais://bad bucket/o' 2> "$work/e1"; rc=$?
check "bad URI -> 1" '[ $rc = 1 ] && [ "$(wc -l < "$work/e1")" = 1 ]'
"$cli" -q -c 1k -o "$work/x" ais://b/data.bin 2>/dev/null; rc=$?
check "chunk below 4 KiB -> 1" '[ $rc = 1 ]'
"$cli" -q -n 0 -o "$work/x" ais://b/data.bin 2>/dev/null; rc=$?
check "zero workers -> 1" '[ $rc = 1 ]'
"$cli" -q -e ftp://x -o "$work/x" ais://b/data.bin 2>/dev/null; rc=$?
check "bad endpoint -> 1" '[ $rc = 1 ]'
"$cli" -q --offset 3000000 -o "$work/x" ais://b/data.bin 2>/dev/null; rc=$?
check "offset past the end -> 1" '[ $rc = 1 ]'
"$cli" -q -o "$work/x" ais://b/missing 2> "$work/e2"; rc=$?
check "missing object -> 2" '[ $rc = 2 ] && grep -q "does not exist" "$work/e2"'
"$cli" -q -o "$work/x" ais://nobucket/o 2>/dev/null; rc=$?
check "missing bucket -> 2" '[ $rc = 2 ]'
curl -sf -X POST "$ep/_emu/faults" -d '{"bucket":"b","object":"data.bin","kind":"overwrite","offset":524288}' >/dev/null
"$cli" -q -n 2 -c 64KiB -o "$work/changed.bin" ais://b/data.bin 2> "$work/e3"; rc=$?
check "object changed -> 4" '[ $rc = 4 ] && grep -q "changed" "$work/e3"'
check "no file after a failure" '[ ! -e "$work/changed.bin" ] && [ -z "$(ls "$work" | grep part-)" ]'
curl -sf -X DELETE "$ep/_emu/faults" >/dev/null

# interrupted: exit 130, no partial file under any name
curl -sf -X PUT "$ep/_emu/objects/b/slow.bin?size=8000000&seed=6" >/dev/null
curl -sf -X POST "$ep/_emu/faults" -d '{"bucket":"b","object":"slow.bin","kind":"slow","rate":200000,"count":-1}' >/dev/null
"$cli" -q -n 2 -c 64KiB -o "$work/slow.bin" ais://b/slow.bin 2>/dev/null &
pid=$!
sleep 0.7
kill -INT $pid
wait $pid; rc=$?
check "interrupted -> 130" '[ $rc = 130 ]'
check "no partial file" '[ ! -e "$work/slow.bin" ] && [ -z "$(ls "$work" | grep part-)" ]'

[ $fail = 0 ] && echo "test_cli: all checks passed"
exit $fail
