#!/usr/bin/env bash
# Side-by-side playback origin: streamlet-server (/media/{id}/..., through the platform:
# catalog lookup + streamlet::origin) vs nginx serving the very same files as static files,
# both on loopback, loaded with wrk. Scenarios: the master playlist at 64 and 1000
# connections, a ~1 MB media segment at 64 connections. Runs alternate between the two
# servers; prints requests/s, p50/p99 latency and MB/s per run, then medians and the
# streamlet/nginx ratio. Figures are printed, never asserted.
#
#   bench/origin_side_by_side.sh [--build build] [--runs 3] [--seconds 5] [--origin-threads N]
#
# --origin-threads is streamlet-server's number of playback event loops (default: one per
# core, as nginx's `worker_processes auto`); 0 serves /media from cpp-httplib's thread pool
# instead, the server's behaviour before the origin front (kept for comparison).
# Needs: a built streamlet-server and streamlet-cli, ffmpeg, nginx and wrk (Debian packages
# `nginx` and `wrk`). nginx runs unprivileged from a generated config in a temp dir.
set -euo pipefail

build=build
runs=3
seconds=5
origin_threads=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --origin-threads) origin_threads=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--seconds N] [--origin-threads N]" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
server_bin=$build/server/streamlet-server
cli_bin=$build/cli/streamlet-cli
for b in "$server_bin" "$cli_bin"; do [ -x "$b" ] || { echo "no $b: build it first" >&2; exit 2; }; done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
for tool in ffmpeg wrk curl python3 "$nginx_bin"; do
  command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }
done
# 1000 connections on each side of loopback, plus files.
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-origin-bench.XXXXXX")
chmod 755 "$work"  # nginx started as root serves as an unprivileged worker user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the ladder, published through the platform itself --------------------------------
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=30:duration=30 \
  -f lavfi -i sine=frequency=440:duration=30 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
  -c:a aac -shortest "$work/source.mp4"
sport=$(free_port)
# Without the front, httplib's pool is what 1000 keep-alive connections queue on.
server_flags=()
[ -n "$origin_threads" ] && server_flags+=(--origin-threads "$origin_threads")
[ "$origin_threads" = 0 ] && server_flags+=(--threads 1024)
"$server_bin" --listen "127.0.0.1:$sport" --data "$work/data" --api-key bench-key \
  "${server_flags[@]}" --ladder 720p:1400k,360p:600k --preset ultrafast >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
base=http://127.0.0.1:$sport
"$cli_bin" upload "$work/source.mp4" --server "$base" --api-key bench-key >/dev/null
video=""
for _ in $(seq 600); do
  video=$(curl -s -H "Authorization: Bearer bench-key" "$base/v1/videos?status=ready" |
    python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["id"] if i else "")')
  [ -n "$video" ] && break
  sleep 0.5
done
[ -n "$video" ] || { echo "the transcode did not finish" >&2; cat "$work/server.log" >&2; exit 1; }
media=$work/data/media/$video
# The media segment closest to 1 MB.
segment=$(cd "$media" && find . -name 'seg_*.m4s' -printf '%s %P\n' |
  awk '{d=$1-1048576; if(d<0)d=-d; print d, $2, $1}' | sort -n | head -1)
seg_path=$(echo "$segment" | awk '{print $2}')
seg_size=$(echo "$segment" | awk '{print $3}')

# --- nginx over the same directory ---------------------------------------------------------
nport=$(free_port)
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; application/dash+xml mpd; video/iso.segment m4s; video/mp4 mp4; }
  server {
    listen 127.0.0.1:$nport;
    location /media/ { alias $work/data/media/; }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nport/media/$video/master.m3u8" >/dev/null && break; sleep 0.1; done

playlist=/media/$video/master.m3u8
seg=/media/$video/$seg_path
for url in "$base$playlist" "http://127.0.0.1:$nport$playlist" "$base$seg" "http://127.0.0.1:$nport$seg"; do
  curl -sf -o /dev/null "$url" || { echo "cannot fetch $url" >&2; exit 1; }
done
echo "ladder: $video (720p, 360p, audio); segment $seg_path = $seg_size bytes; $(nproc) cores; streamlet ${server_flags[*]:-(defaults)}"

# --- alternate wrk runs ------------------------------------------------------------------------
# shellcheck source=wrk_runs.sh
source "$(dirname "$0")/wrk_runs.sh"
results=$work/results.txt
: >"$results"
printf 'scenario\tserver\treq/s\tp50 ms\tp99 ms\tMB/s\terrors\n'
for i in $(seq "$runs"); do
  for scenario in "playlist-64:64:$playlist" "playlist-1000:1000:$playlist" "segment-64:64:$seg"; do
    IFS=: read -r name conns path <<<"$scenario"
    wrk_run streamlet "$name" "$conns" "$base$path"
    wrk_run nginx "$name" "$conns" "http://127.0.0.1:$nport$path"
  done
done

echo
echo "medians over $runs runs (${seconds}s each, wrk -t2):"
wrk_medians nginx streamlet nginx
