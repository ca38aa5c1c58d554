#!/usr/bin/env bash
# aisfetch as a user meets it: output files, offsets, units, exit codes,
# interruption without a partial file, help and man page in step; many
# objects (a prefix, several URIs) into a directory, --keep-going, --list.
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
# (39 ranges: a hedge's second copy is not counted)
check "summary line ($(tail -1 "$work/err.txt"))" 'grep -Eq "^2500000 bytes in .* MB/s, 4 workers, 39 ranges, 0 retries$" "$work/err.txt"'
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

# ---- many objects: a prefix, several URIs, listings ----
# mb/set/: 200 small objects of mixed sizes (empty ones included) in four
# subdirectories, two larger ones, an empty one, a name that is not UTF-8 and
# one with a newline; one object outside the prefix
for d in 0 1 2 3; do
  curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"mb","prefix":"set/d'$d'/o","count":50,"width":2,"seed":'$((100 + d * 50))',"sizes":[0,1,100,4095,4096,4097,20000,65536,70000,1000]}' >/dev/null ||
    { echo "FAIL: bulk creation"; fail=1; }
done
curl -sf -X PUT "$ep/_emu/objects/mb/set/big-1?size=3000000&seed=21" >/dev/null
curl -sf -X PUT "$ep/_emu/objects/mb/set/big-2?size=1500001&seed=22" >/dev/null
curl -sf -X PUT "$ep/_emu/objects/mb/set/empty?size=0&seed=1" >/dev/null
curl -sf -X PUT "$ep/_emu/objects/mb/set/odd-%FF%FE.bin" --data-binary 'not utf-8' >/dev/null
curl -sf -X PUT "$ep/_emu/objects/mb/set/nl%0Aname" --data-binary 'a newline' >/dev/null
curl -sf -X PUT "$ep/_emu/objects/mb/other/outside?size=10&seed=3" >/dev/null
nset=205
# the reference tree, through the emulator's plain GET (one curl for all)
mkdir -p "$work/ref/set"
for d in 0 1 2 3; do
  for i in $(seq -w 0 49); do
    printf 'url = "%s/v1/objects/mb/set/d%s/o%s?provider=ais"\noutput = "%s/ref/set/d%s/o%s"\n' \
      "$ep" "$d" "$i" "$work" "$d" "$i"
  done
done > "$work/curl.cfg"
for o in big-1 big-2 empty; do
  printf 'url = "%s/v1/objects/mb/set/%s?provider=ais"\noutput = "%s/ref/set/%s"\n' "$ep" "$o" "$work" "$o"
done >> "$work/curl.cfg"
curl -sfL --create-dirs -K "$work/curl.cfg" || { echo "FAIL: reference downloads"; fail=1; }
printf 'not utf-8' > "$work/ref/set/odd-"$'\xff\xfe'".bin"
printf 'a newline' > "$work/ref/set/nl"$'\n'"name"
nfiles() { find "$1" -type f -printf . | wc -c; }
check "reference tree ($nset files)" '[ "$(nfiles "$work/ref/set")" = $nset ]'
setbytes=$(find "$work/ref/set" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
noparts() { [ -z "$(find "$1" -name '*.part-*' 2>/dev/null)" ]; }

# a prefix (trailing '/') through one reader; pages of 7 entries
"$cli" -n 4 -c 64KiB --page-size 7 -o "$work/out/" ais://mb/set/ 2> "$work/m1"; rc=$?
check "prefix download exits 0 (rc $rc: $(head -c 300 "$work/m1"))" '[ $rc = 0 ]'
check "prefix download: the same tree, byte for byte" 'diff -r "$work/ref/set" "$work/out/set" >/dev/null'
check "prefix download: an empty object is an empty file" '[ -f "$work/out/set/empty" ] && [ ! -s "$work/out/set/empty" ] && [ -f "$work/out/set/d0/o00" ] && [ ! -s "$work/out/set/d0/o00" ]'
check "prefix download: nothing outside the prefix" '[ ! -e "$work/out/other" ]'
check "prefix download: no temporary file" 'noparts "$work/out"'
check "prefix download: summary line" 'grep -q "^$nset objects, $setbytes bytes in .* MB/s, 4 workers, .* retries$" "$work/m1"'
check "prefix download: no progress bar when piped" '! grep -q $'"'"'\r'"'"' "$work/m1"'

# --prefix: a prefix without a trailing '/'; a second run replaces the files
"$cli" -q --prefix -o "$work/out2" ais://mb/set/d1/o0; rc=$?
check "--prefix exits 0" '[ $rc = 0 ]'
check "--prefix: the 10 objects d1/o0*" '[ "$(find "$work/out2" -type f | wc -l)" = 10 ] && diff -r "$work/ref/set/d1" "$work/out2/set/d1" | grep -q "^Only in $work/ref/set/d1: o49$" && cmp -s "$work/ref/set/d1/o07" "$work/out2/set/d1/o07"'
"$cli" -q --prefix -o "$work/out2" ais://mb/set/d1/o0; rc=$?
check "--prefix again over the same files" '[ $rc = 0 ] && cmp -s "$work/ref/set/d1/o09" "$work/out2/set/d1/o09" && noparts "$work/out2"'

# several object URIs
"$cli" -q -n 3 -o "$work/out3" ais://mb/set/big-1 ais://mb/set/big-2 ais://mb/set/empty; rc=$?
check "several URIs exit 0" '[ $rc = 0 ]'
check "several URIs: each to DIR/NAME" 'cmp -s "$work/ref/set/big-1" "$work/out3/set/big-1" && cmp -s "$work/ref/set/big-2" "$work/out3/set/big-2" && [ -f "$work/out3/set/empty" ] && [ ! -s "$work/out3/set/empty" ]'
"$cli" -q -o "$work/out4" ais://mb/set/big-1 ais://b/missing ais://mb/set/big-2 2> "$work/m4"; rc=$?
check "several URIs, one missing -> 2, naming it" '[ $rc = 2 ] && grep -q "^aisfetch: missing: not found: " "$work/m4" && [ "$(wc -l < "$work/m4")" = 1 ] && noparts "$work/out4" && [ ! -e "$work/out4/set/big-2" ]'
"$cli" -q --keep-going -o "$work/out5" ais://mb/set/big-1 ais://b/missing ais://mb/set/big-2 2> "$work/m5"; rc=$?
check "several URIs, --keep-going -> 12" '[ $rc = 12 ]'
check "--keep-going: the others are written" 'cmp -s "$work/ref/set/big-1" "$work/out5/set/big-1" && cmp -s "$work/ref/set/big-2" "$work/out5/set/big-2" && [ ! -e "$work/out5/missing" ]'
check "--keep-going: the failure listed (name: kind: message)" 'grep -q "^aisfetch: 1 object failed:$" "$work/m5" && grep -q "^  missing: not found: " "$work/m5"'
"$cli" -q -o - ais://b/data.bin ais://mb/set/big-2 2>/dev/null; rc=$?
check "several URIs to stdout -> 1" '[ $rc = 1 ]'
"$cli" -q --offset 5 -o "$work/x" ais://mb/set/ 2>/dev/null; rc=$?
check "--offset with a prefix -> 1" '[ $rc = 1 ]'
"$cli" -q -o "$work/ref.bin" ais://mb/set/ 2>/dev/null; rc=$?
check "a file as the output directory -> 1" '[ $rc = 1 ]'
# --verify-checksum over a prefix: each object checked; a false checksum fails that object
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"vc","prefix":"p/","count":4,"size":200000,"cksum":"xxhash2"}' >/dev/null
curl -sf -X PUT "$ep/_emu/objects/vc/p/2?size=150000&seed=3&cksum=xxhash&cksum_value=0123456789abcdef" >/dev/null
"$cli" -q --verify-checksum -o "$work/vc1" ais://vc/p/ 2>"$work/vc1.err"; rc=$?
check "--verify-checksum with a prefix: a false checksum -> 9, named" '[ $rc = 9 ] && grep -q "p/2" "$work/vc1.err" && [ ! -e "$work/vc1/p/2" ]'
"$cli" -q --keep-going --verify-checksum -o "$work/vc2" ais://vc/p/ 2>"$work/vc2.err"; rc=$?
check "--verify-checksum --keep-going: the others written, the false one not" '[ $rc = 12 ] && [ "$(find "$work/vc2" -type f | wc -l)" = 3 ] && [ ! -e "$work/vc2/p/2" ] && grep -q "p/2: checksum" "$work/vc2.err"'

# empty objects first, last, and only
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"e","prefix":"mixed/","count":6,"sizes":[0,10,0,0,20,0]}' >/dev/null
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"e","prefix":"none/","count":3,"size":0}' >/dev/null
"$cli" -q -o "$work/empties" ais://e/mixed/ && "$cli" -q -o "$work/empties" ais://e/none/; rc=$?
check "empty objects at the start, the end, only empty ones" '[ $rc = 0 ] && [ "$(find "$work/empties" -type f -printf "%P:%s\n" | sort | tr "\n" " ")" = "mixed/0:0 mixed/1:10 mixed/2:0 mixed/3:0 mixed/4:20 mixed/5:0 none/0:0 none/1:0 none/2:0 " ]'

# an object that changes while it is read: --keep-going goes on past it
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"ch","prefix":"o","count":4,"size":300000,"seed":3}' >/dev/null
curl -sf -X POST "$ep/_emu/faults" -d '{"bucket":"ch","object":"o1","kind":"overwrite","offset":131072}' >/dev/null
"$cli" -n 2 -c 64KiB --keep-going -o "$work/ch" ais://ch/ 2> "$work/c1"; rc=$?
check "changed object, --keep-going -> 12, the others written" '[ $rc = 12 ] && grep -q "^  o1: object changed: " "$work/c1" && grep -q "^3 objects, 900000 bytes in .*, 1 failed$" "$work/c1" && [ ! -e "$work/ch/o1" ] && [ "$(nfiles "$work/ch")" = 3 ] && noparts "$work/ch"'
curl -sf -X DELETE "$ep/_emu/faults" >/dev/null

# --list
"$cli" --list ais://mb/set/ > "$work/l1" 2> "$work/l1e"; rc=$?
check "--list exits 0" '[ $rc = 0 ]'
check "--list: one line per object" '[ "$(wc -l < "$work/l1")" = $nset ] && [ "$(grep -c $'"'"'^set/d[0-3]/o[0-9][0-9]\t[0-9]*$'"'"' "$work/l1")" = 200 ]'
check "--list: sizes" 'grep -qx "set/big-1	3000000" "$work/l1" && grep -qx "set/empty	0" "$work/l1" && grep -qx "set/d2/o08	70000" "$work/l1" && [ "$(awk -F"\t" "{s += \$2} END {print s}" "$work/l1")" = $setbytes ]'
check "--list: a name that is not UTF-8 as it is, a newline escaped" 'grep -aqx "set/odd-"$'"'"'\xff\xfe'"'"'".bin	9" "$work/l1" && grep -qxF "set/nl\x0aname	9" "$work/l1"'
check "--list: in the cluster's order (by name)" 'LC_ALL=C sort -c "$work/l1"'
check "--list: a summary on stderr" 'grep -q "$nset objects, $setbytes bytes" "$work/l1e"'
"$cli" --list --long --page-size 50 ais://mb/set/d3 > "$work/l2" 2>/dev/null; rc=$?
check "--list --long: five fields" '[ $rc = 0 ] && [ "$(wc -l < "$work/l2")" = 50 ] && [ -z "$(awk -F"\t" "NF != 5 || \$3 == \"-\" || \$4 == \"-\"" "$work/l2")" ]'
"$cli" -q --list ais://mb > "$work/l3"; rc=$?
check "--list of a whole bucket" '[ $rc = 0 ] && [ "$(wc -l < "$work/l3")" = $((nset + 1)) ] && grep -qx "other/outside	10" "$work/l3"'
"$cli" --list ais://mb/nothing/ > "$work/l4" 2> "$work/l4e"; rc=$?
check "--list of an empty prefix: nothing, exit 0, a note" '[ $rc = 0 ] && [ ! -s "$work/l4" ] && grep -q "no object under ais://mb/nothing/" "$work/l4e"'
"$cli" --list ais://nobucket/ > "$work/l5" 2> "$work/l5e"; rc=$?
check "--list of a missing bucket -> 2" '[ $rc = 2 ] && [ ! -s "$work/l5" ] && [ "$(wc -l < "$work/l5e")" = 1 ] && grep -q "does not exist" "$work/l5e"'

# a prefix with no object, a missing bucket: errors, and no directory made
"$cli" -q -o "$work/out6" ais://mb/nothing/ 2> "$work/m6"; rc=$?
check "download of an empty prefix -> 2" '[ $rc = 2 ] && [ "$(wc -l < "$work/m6")" = 1 ] && [ ! -e "$work/out6" ]'
"$cli" -q -o "$work/out6" ais://nobucket/ 2> "$work/m7"; rc=$?
check "download from a missing bucket -> 2" '[ $rc = 2 ] && grep -q "does not exist" "$work/m7" && [ ! -e "$work/out6" ]'

# names that are not safe paths: refused one by one, nothing written outside
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"ub","names":["../evil","/abs","a//b","ok1","ok2","x/./y"],"size":10,"seed":5}' >/dev/null
mkdir -p "$work/ub"
"$cli" -q -o "$work/ub/out" ais://ub/ 2> "$work/u1"; rc=$?
check "unsafe name -> 11, naming it" '[ $rc = 11 ] && grep -q "^aisfetch: \.\./evil: unsafe name: " "$work/u1"'
"$cli" -q --keep-going -o "$work/ub/out" ais://ub/ 2> "$work/u2"; rc=$?
check "unsafe names with --keep-going -> 12, the others written" '[ $rc = 12 ] && [ -s "$work/ub/out/ok1" ] && [ -s "$work/ub/out/ok2" ] && grep -q "^aisfetch: 4 objects failed:$" "$work/u2" && [ "$(grep -c "^  .*: unsafe name: " "$work/u2")" = 4 ]'
check "unsafe names: nothing outside the directory" '[ ! -e "$work/ub/evil" ] && [ ! -e "$work/evil" ] && [ ! -e /abs ] && [ "$(nfiles "$work/ub")" = 2 ]'

# an object deleted after the listing: without and with --keep-going
kg_setup() {
  curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"kg","names":["b","c","d","e"],"size":5000,"seed":40}' >/dev/null
  curl -sf -X PUT "$ep/_emu/objects/kg/a-slow?size=524288&seed=41" >/dev/null
  curl -sf -X DELETE "$ep/_emu/faults" >/dev/null
  curl -sf -X POST "$ep/_emu/faults" -d '{"bucket":"kg","object":"a-slow","kind":"slow","rate":250000,"count":-1}' >/dev/null
  curl -sf -X POST "$ep/_emu/stats/reset" >/dev/null
}
# waits (at most 5 s) until the first object is being read, then deletes kg/c
kg_delete_c() {
  for _ in $(seq 100); do
    curl -sf "$ep/_emu/stats" | grep -q 'kg/a-slow' && break
    sleep 0.05
  done
  curl -sf -X DELETE "$ep/_emu/objects/kg/c" >/dev/null
}
kg_setup
"$cli" -q -n 2 -c 64KiB -o "$work/kg1" ais://kg/ 2> "$work/k1" &
pid=$!; kg_delete_c; wait $pid; rc=$?
check "deleted after listing -> 2, naming it" '[ $rc = 2 ] && grep -q "^aisfetch: c: not found: " "$work/k1" && [ "$(wc -l < "$work/k1")" = 1 ]'
check "deleted after listing: the objects before it are written" '[ "$(stat -c %s "$work/kg1/a-slow")" = 524288 ] && [ -s "$work/kg1/b" ] && [ ! -e "$work/kg1/c" ] && [ ! -e "$work/kg1/d" ] && noparts "$work/kg1"'
kg_setup
"$cli" -q -n 2 -c 64KiB --keep-going -o "$work/kg2" ais://kg/ 2> "$work/k2" &
pid=$!; kg_delete_c; wait $pid; rc=$?
check "deleted after listing, --keep-going -> 12" '[ $rc = 12 ] && grep -q "^  c: not found: " "$work/k2" && [ "$(grep -c "^  " "$work/k2")" = 1 ]'
check "deleted after listing, --keep-going: all the others written" '[ "$(stat -c %s "$work/kg2/a-slow")" = 524288 ] && for o in b d e; do [ "$(stat -c %s "$work/kg2/$o")" = 5000 ] || exit 1; done && [ ! -e "$work/kg2/c" ] && noparts "$work/kg2"'

# interrupted in the middle of a prefix: 130, no partial file
kg_setup
"$cli" -q -n 2 -c 64KiB -o "$work/kg3" ais://kg/ 2>/dev/null &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid; rc=$?
check "prefix interrupted -> 130, no partial file" '[ $rc = 130 ] && [ ! -e "$work/kg3/a-slow" ] && noparts "$work/kg3"'
curl -sf -X DELETE "$ep/_emu/faults" >/dev/null

# the listing fails half way: the run ends (--keep-going or not), no object is blamed
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"lf","prefix":"o","count":60,"size":1000,"seed":8}' >/dev/null
curl -sf -X POST "$ep/_emu/faults" -d '{"method":"LIST","bucket":"lf","kind":"status","code":500,"nth":3,"count":-1}' >/dev/null
"$cli" -q --retries 1 --keep-going --page-size 20 -o "$work/lf" ais://lf/ 2> "$work/f1"; rc=$?
check "listing fails half way, --keep-going -> 8, the listing named" '[ $rc = 8 ] && [ "$(wc -l < "$work/f1")" = 1 ] && grep -q "^aisfetch: server error: listing bucket ais://lf/: HTTP 500" "$work/f1" && noparts "$work/lf"'
curl -sf -X DELETE "$ep/_emu/faults" >/dev/null

# the files of a prefix are made ahead and written by the workers (data NULL
# chunks): a local write error there is the object's, exit 11 like the
# caller's own writes; with few descriptors the run still completes
# (z comes late enough for its file to be made before its first range is sent)
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"wf","names":["a","b","c","d","e","f","g","h","i","z"],"sizes":[10,10,10,10,10,10,10,10,10,300000],"seed":60}' >/dev/null
for mode in process thread; do
  (ulimit -f 100; exec "$cli" -q --worker-mode $mode -n 2 -c 64KiB -o "$work/wf-$mode" ais://wf/) 2> "$work/w-$mode"; rc=$?
  check "$mode workers: a file past RLIMIT_FSIZE -> 11, naming it ($(head -c 300 "$work/w-$mode"))" '[ $rc = 11 ] && grep -q "^aisfetch: z: local write error: .*into its file: File too large" "$work/w-$mode" && [ -s "$work/wf-$mode/i" ] && [ ! -e "$work/wf-$mode/z" ] && noparts "$work/wf-$mode"'
done
(ulimit -f 100; exec "$cli" -q --keep-going -n 2 -c 64KiB -o "$work/wf-kg" ais://wf/) 2> "$work/w-kg"; rc=$?
check "a file past RLIMIT_FSIZE, --keep-going -> 12, the others written" '[ $rc = 12 ] && grep -q "^  z: local write error: " "$work/w-kg" && [ "$(nfiles "$work/wf-kg")" = 9 ] && noparts "$work/wf-kg"'
for n in 256 512; do
  (ulimit -n $n; exec "$cli" -q --worker-mode thread -n 16 -o "$work/nf-$n" ais://mb/set/) 2> "$work/n-$n"; rc=$?
  check "thread workers under ulimit -n $n: the whole prefix ($(head -c 300 "$work/n-$n"))" '[ $rc = 0 ] && diff -r "$work/ref/set" "$work/nf-$n/set" >/dev/null'
done

# one object past RLIMIT_FSIZE (its ranges written by the workers, or by
# aisfetch for those through the ring): a clean error, not SIGXFSZ with a .part left
for mode in process thread; do
  (ulimit -f 1000; exec "$cli" -q --worker-mode $mode -n 4 -c 64KiB -o "$work/big-$mode.bin" ais://mb/set/big-1) 2> "$work/w1-$mode"; rc=$?
  check "$mode workers: one object past RLIMIT_FSIZE -> 11 ($(head -c 200 "$work/w1-$mode"))" '[ $rc = 11 ] && grep -q "File too large" "$work/w1-$mode" && [ ! -e "$work/big-$mode.bin" ] && [ -z "$(ls "$work" | grep part-)" ]'
done
# and whole, into a file, by thread workers
"$cli" -q --worker-mode thread -n 4 -c 64KiB -o "$work/thr.bin" ais://mb/set/big-1 2> "$work/thr.err"; rc=$?
check "thread workers into a file (rc $rc: $(head -c 300 "$work/thr.err"))" '[ $rc = 0 ] && cmp -s "$work/ref/set/big-1" "$work/thr.bin"'

# object "a" and objects "a/x": the file comes first (the listing's order), the
# others cannot have "a" as their directory; no directory is made ahead of its turn
curl -sf -X POST "$ep/_emu/objects/bulk" -d '{"bucket":"fa","names":["a","a/x","a/y","b/z"],"size":1000,"seed":70}' >/dev/null
"$cli" -q --keep-going -n 2 -o "$work/fa" ais://fa/ 2> "$work/fa.err"; rc=$?
check "a file and a directory of one name: the file written, a/x and a/y failed" '[ $rc = 12 ] && [ -f "$work/fa/a" ] && [ -f "$work/fa/b/z" ] && grep -q "^  a/x: local: " "$work/fa.err" && grep -q "^  a/y: local: " "$work/fa.err" && noparts "$work/fa"'

# on a terminal: one bar over all the objects
if script -qc true /dev/null >/dev/null 2>&1; then
  script -qc "'$cli' -n 2 -o '$work/tty' ais://mb/set/d0/" /dev/null > "$work/t1" 2>&1 < /dev/null
  check "progress on a terminal: objects and bytes" 'grep -aq "50/50 objects" "$work/t1" && diff -r "$work/ref/set/d0" "$work/tty/set/d0" >/dev/null'
fi

[ $fail = 0 ] && echo "test_cli: all checks passed"
exit $fail
