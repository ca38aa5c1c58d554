#!/usr/bin/env bash
# GStreamer's own tools play ais:// URIs through aissrc: gst-discoverer-1.0
# reports the same duration as for the local file, gst-play-1.0 plays to the
# end, gst-launch-1.0 playbin decodes it.  A prefix: a URI with a trailing
# '/' plays in gst-play-1.0, and gst-launch-1.0 decodes every clip of it in
# sequence mode through decodebin (which it links by one pad).
set -u
emulator=$1; python=$2
work=$(mktemp -d)
emu_pid=""
fail=0
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/data/videos"
gst-launch-1.0 -q videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 \
  ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location="$work/data/videos/clip.mp4" || exit 1
mkdir -p "$work/data/videos/clips"
for n in 20 35; do
  gst-launch-1.0 -q videotestsrc num-buffers=$n ! video/x-raw,width=160,height=120,framerate=30/1 \
    ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location="$work/data/videos/clips/$n.mp4" || exit 1
done
"$python" "$emulator" --port 0 --data-dir "$work/data" --ready-file "$work/ready" --quiet >/dev/null &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
export AIS_ENDPOINT=$(cat "$work/ready")

local_d=$(timeout 60 gst-discoverer-1.0 "file://$work/data/videos/clip.mp4" | grep -m1 Duration)
ais_d=$(timeout 60 gst-discoverer-1.0 ais://videos/clip.mp4 | grep -m1 Duration)
if [ -z "$ais_d" ] || [ "$local_d" != "$ais_d" ]; then
  echo "FAIL: gst-discoverer-1.0: local '$local_d', ais:// '$ais_d'"; fail=1
fi
if ! timeout 60 gst-play-1.0 --no-interactive --videosink=fakesink --audiosink=fakesink \
    ais://videos/clip.mp4 > "$work/play.log" 2>&1 || ! grep -q "Reached end of play list" "$work/play.log"; then
  echo "FAIL: gst-play-1.0"; cat "$work/play.log"; fail=1
fi
if ! timeout 60 gst-launch-1.0 -q playbin uri=ais://videos/clip.mp4 video-sink=fakesink audio-sink=fakesink; then
  echo "FAIL: gst-launch-1.0 playbin"; fail=1
fi
if ! timeout 60 gst-play-1.0 --no-interactive --videosink=fakesink --audiosink=fakesink \
    ais://videos/clips/ > "$work/play2.log" 2>&1 || ! grep -q "Reached end of play list" "$work/play2.log"; then
  echo "FAIL: gst-play-1.0 with a prefix URI"; cat "$work/play2.log"; fail=1
fi
# -v prints fakesink's last-message, a "chain" line per frame
frames=$(timeout 60 gst-launch-1.0 -v aissrc location=ais://videos/clips/ mode=sequence ! decodebin \
  ! videoconvert ! fakesink silent=false 2>&1 | grep -c "last-message = chain")
if [ "$frames" != 55 ]; then
  echo "FAIL: gst-launch-1.0 aissrc mode=sequence ! decodebin: $frames frames, not 20 + 35"; fail=1
fi
[ $fail = 0 ] && echo "gst tools: discoverer ($ais_d), gst-play, playbin and a sequence of clips passed"
exit $fail
