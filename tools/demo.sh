#!/usr/bin/env bash
# The main job: set up a fresh Debian 12 machine, build, start the AIStore
# emulator with a real encoded video, and play it headless through
#   playbin uri=ais://videos/clip.mp4   (aissrc, 8 worker processes)
# printing aissrc's stats and writing a PNG of a decoded frame.
#
# With AIS_ENDPOINT pointing at a real cluster and an object given
# (bash tools/demo.sh ais://BUCKET/OBJECT), it streams that object instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build-demo
uri=${1:-}

need_install=0
for t in meson ninja pkg-config gst-launch-1.0 nginx; do
  command -v "$t" >/dev/null 2>&1 || need_install=1
done
/usr/bin/python3 -c 'import xxhash, crc32c' >/dev/null 2>&1 || need_install=1
pkg-config --exists libcurl libxxhash gstreamer-1.0 2>/dev/null || need_install=1
# the elements that encode the clip: timeoverlay is in gstreamer1.0-x, x264enc in -ugly, avenc_aac in -libav
for e in timeoverlay x264enc avenc_aac; do
  gst-inspect-1.0 "$e" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "== installing Debian packages"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    $(grep -v '^#' tools/packages.txt)
fi

echo "== building"
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=false >/dev/null
ninja -C "$build" >/dev/null

export GST_PLUGIN_PATH="$root/$build/gst"
export AISFETCH_WORKER="$root/$build/lib/aisfetch-worker"
demo="$root/$build/demo"
mkdir -p "$demo"

emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

if [ -n "$uri" ] && [ -n "${AIS_ENDPOINT:-}" ]; then
  endpoint=$AIS_ENDPOINT
  echo "== streaming $uri from $endpoint"
else
  uri=ais://videos/clip.mp4
  video="$demo/data/videos/clip.mp4"
  if [ ! -s "$video" ]; then
    echo "== encoding a 10 s 720p H.264/AAC video (once) with GStreamer's own encoders"
    mkdir -p "$(dirname "$video")"
    gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=smpte \
      ! video/x-raw,width=1280,height=720,framerate=30/1 ! timeoverlay font-desc="Sans 48" \
      ! x264enc speed-preset=ultrafast bitrate=16000 key-int-max=30 ! queue ! mux. \
      audiotestsrc num-buffers=430 ! audioconvert ! avenc_aac ! queue ! mux. \
      mp4mux name=mux ! filesink location="$video.tmp"
    mv "$video.tmp" "$video"
  fi
  echo "== starting the AIStore emulator (a proxy and 3 targets on loopback)"
  rm -f "$demo/ready"
  /usr/bin/python3 tools/ais-emulator.py --port 0 --data-dir "$demo/data" \
    --ready-file "$demo/ready" --quiet >/dev/null &
  emu_pid=$!
  for _ in $(seq 100); do [ -s "$demo/ready" ] && break; sleep 0.1; done
  endpoint=$(cat "$demo/ready")
  echo "   endpoint $endpoint, object $uri ($(stat -c %s "$video") bytes)"
fi

echo "== playing $uri through playbin + aissrc (8 worker processes, 1 MiB ranges)"
"$build/examples/ais-play" --endpoint "$endpoint" --num-workers 8 --chunk-size 1048576 \
  --snapshot "$demo/frame.png" "$uri"
echo "== done: a decoded frame is in $build/demo/frame.png"
