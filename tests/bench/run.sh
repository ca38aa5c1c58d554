#!/usr/bin/env bash
# The benchmark suite, one command:
#
#   bash tests/bench/run.sh [--quick] [--rounds N] [--link asym|sym] [--render-only]
#                           [--only ceiling,a,b,c,d,straggler,small,memory]
#
# Builds the project in release mode into build-bench/, compiles the helpers of
# tests/bench/, makes two network namespaces joined by a delay link
# (delaylink.c), starts its own servers in one (nginx, the AIStore emulator),
# makes its objects, runs the clients in the other, measures every scenario and
# writes docs/bench/ and docs/benchmarks.md.  --quick finishes in a few
# minutes; the full run in about 25 (1354 s here).  Not part of the default test run.
# Needs root: for the namespaces, the TUN devices and the link's real-time
# priority, and to install missing Debian packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$ROOT/build-bench
ARGS=()
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick|--render-only) ARGS+=("$1") ;;
    --rounds|--only|--link) ARGS+=("$1" "$2"); shift ;;
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# Debian packages the benchmark needs beyond the project's build (tools/packages.txt)
BENCH_PACKAGES="nginx-light aria2 curl gnuplot-nox iproute2 util-linux
  gstreamer1.0-tools gstreamer1.0-plugins-good libgstreamer1.0-dev python3 python3-xxhash python3-crc32c
  build-essential meson ninja-build pkg-config libcurl4-openssl-dev libxxhash-dev libssl-dev"
missing=""
for c in nginx aria2c curl gnuplot ip chrt gst-launch-1.0 meson ninja gcc pkg-config; do
  command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
pkg-config --exists gstreamer-1.0 2>/dev/null || missing="$missing gstreamer-dev"
gst-inspect-1.0 souphttpsrc >/dev/null 2>&1 || missing="$missing souphttpsrc"
/usr/bin/python3 -c 'import xxhash, crc32c' 2>/dev/null || missing="$missing python3-xxhash/crc32c"
if [ -n "$missing" ]; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: missing:$missing; installing Debian packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $BENCH_PACKAGES >/dev/null
  else
    echo "run.sh: missing:$missing (Debian: apt-get install $(tr -s ' \n' ' ' <<<"$BENCH_PACKAGES"))" >&2
    exit 1
  fi
fi

case " ${ARGS[*]:-} " in
  *" --render-only "*) exec /usr/bin/python3 tests/bench/bench.py --build "$BUILD" --work /tmp "${ARGS[@]}" ;;
esac

# release build of the library, the CLI and the element
if [ -f "$BUILD/build.ninja" ]; then
  meson configure "$BUILD" -Dbuildtype=release -Dtests=false >/dev/null
else
  meson setup "$BUILD" -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" >/dev/null
mkdir -p "$BUILD/bench"
CFLAGS=(-O2 -Wall -Wextra -Wno-unused-parameter)
gcc "${CFLAGS[@]}" -o "$BUILD/bench/treemon" tests/bench/treemon.c
gcc "${CFLAGS[@]}" -pthread -o "$BUILD/bench/delaylink" tests/bench/delaylink.c
# the library's copy into a slot, from its static core
gcc "${CFLAGS[@]}" -o "$BUILD/bench/sink" tests/bench/sink.c "$BUILD/lib/libaisfetch-core.a"
# shellcheck disable=SC2046
gcc "${CFLAGS[@]}" -o "$BUILD/bench/gstprobe" tests/bench/gstprobe.c $(pkg-config --cflags --libs gstreamer-1.0)
gcc "${CFLAGS[@]}" -Ilib -o "$BUILD/bench/seqread" tests/bench/seqread.c -L"$BUILD/lib" -laisfetch -Wl,-rpath,"$BUILD/lib"
if [ ! -e "$BUILD/gst/libgstaistore.so" ]; then
  echo "run.sh: the element is not built (gst/ missing or not building): aissrc rows will be pending" >&2
fi

# scratch: objects for nginx live in memory when /dev/shm has room
free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -gt $((4 * 1024 * 1024)) ]; then base=/dev/shm; else base=/var/tmp; fi
WORK=$(mktemp -d "$base/aisbench.XXXXXX")
chmod 755 "$WORK"   # nginx workers run as another user
PY=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  set +e
  if [ -n "$PY" ]; then
    kill -TERM "$PY" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$PY" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PY" 2>/dev/null
  fi
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null
    done <"$WORK/pids"
    sleep 0.5
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    done <"$WORK/pids"
  fi
  if [ -f "$WORK/netns" ]; then
    while read -r ns; do
      [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    done <"$WORK/netns"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in the background, so that a signal to this script runs the cleanup at once
/usr/bin/python3 tests/bench/bench.py --build "$BUILD" --work "$WORK" "${ARGS[@]}" &
PY=$!
rc=0
wait "$PY" || rc=$?
PY=""
exit "$rc"
