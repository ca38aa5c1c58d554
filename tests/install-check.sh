#!/usr/bin/env bash
# meson install into a staging prefix, then build the examples against the
# installed pkg-config files, and run the installed tools as a user would:
# aisfetch finds its worker helper in libexecdir, GStreamer finds aissrc.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
stage=$(mktemp -d)
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$stage"; }
trap cleanup EXIT

meson setup "$stage/build" --prefix="$stage/prefix" -Dtests=false -Dbuildtype=release >/dev/null
ninja -C "$stage/build" >/dev/null
meson install -C "$stage/build" >/dev/null
libdir=$(find "$stage/prefix" -name libaisfetch.pc -printf '%h\n' | head -1)
[ -n "$libdir" ] || { echo "libaisfetch.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH="$libdir"
test -x "$stage/prefix/libexec/aisfetch-worker" || { echo "worker helper not in libexecdir"; exit 1; }
test -x "$stage/prefix/bin/aisfetch" || { echo "aisfetch not in bindir"; exit 1; }
plugin=$(find "$stage/prefix" -name 'libgstaistore.so' | head -1)
[ -n "$plugin" ] || { echo "the GStreamer plugin was not installed"; exit 1; }

cc -std=c11 -Wall -Wextra -Werror examples/read-object.c $(pkg-config --cflags --libs libaisfetch) \
  -o "$stage/read-object"
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror examples/ais-play.c $(pkg-config --cflags --libs gstreamer-1.0) \
  -o "$stage/ais-play"

unset AISFETCH_WORKER
export LD_LIBRARY_PATH="$libdir/.."
export GST_PLUGIN_PATH="$(dirname "$plugin")"
export GST_REGISTRY="$stage/registry.bin"
gst-inspect-1.0 aissrc >/dev/null

/usr/bin/python3 tools/ais-emulator.py --port 0 --ready-file "$stage/ready" --quiet >/dev/null &
emu_pid=$!
for _ in $(seq 100); do [ -s "$stage/ready" ] && break; sleep 0.1; done
ep=$(cat "$stage/ready")
curl -sf -X PUT "$ep/_emu/objects/b/obj?size=3000000&seed=7" >/dev/null
export AIS_ENDPOINT=$ep
"$stage/prefix/bin/aisfetch" -q -n 4 -c 64KiB -o "$stage/a.bin" ais://b/obj
"$stage/read-object" ais://b/obj > "$stage/b.bin"
cmp "$stage/a.bin" "$stage/b.bin"
test "$(stat -c %s "$stage/a.bin")" = 3000000
gst-launch-1.0 -q aissrc location=ais://b/obj num-workers=4 chunk-size=65536 ! filesink location="$stage/c.bin"
cmp "$stage/a.bin" "$stage/c.bin"
echo "install check passed: header, pkg-config, helper in libexecdir, plugin, examples"
