#!/usr/bin/env bash
# Edge hit ratio under a Zipf-distributed viewing workload: a streamlet-server (origin, local
# storage) with several short videos, the repository's nginx edge (deploy/nginx/, rendered by
# tests/deploy/edge_fixture.sh) in front, and many simulated viewers fetching through the edge
# as hls.js does: master playlist, one variant's media playlist and the audio playlist, the init
# segments, then media segments in order; some viewers stop early. Videos are chosen with
# P(rank k) ~ 1/k^s. The first viewers warm the cache and are reported apart; the figures after
# warm-up are viewer requests, edge HITs, and the origin's own count of /media requests (its
# /metrics), so revalidations of expired playlists count as origin requests. Printed, never
# asserted.
#
#   bench/edge_hit_ratio.sh [--build build] [--videos 8] [--seconds 16] [--viewers 400]
#                           [--warmup 40] [--concurrency 16] [--zipf 1.0] [--stop-early 0.3]
#
# Needs: a built streamlet-server and streamlet-cli, ffmpeg, nginx, openssl, curl, python3.
set -euo pipefail
shopt -s inherit_errexit

build=build videos=8 seconds=16 viewers=400 warmup=40 concurrency=16 zipf=1.0 stop_early=0.3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --videos) videos=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --viewers) viewers=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --zipf) zipf=$2; shift 2 ;;
    --stop-early) stop_early=$2; shift 2 ;;
    *) sed -n '12,13p' "$0" >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
server_bin=$build/server/streamlet-server
cli_bin=$build/cli/streamlet-cli
for b in "$server_bin" "$cli_bin"; do [ -x "$b" ] || { echo "no $b: build it first" >&2; exit 2; }; done
for tool in ffmpeg openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }
done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx needed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-edge-bench.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=25:duration=$seconds" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$seconds" -ac 2 -c:v libx264 \
  -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/source.mp4"
sport=$(free_port) tport=$(free_port) hport=$(free_port)
origin=http://127.0.0.1:$sport
"$server_bin" --listen "127.0.0.1:$sport" --data "$work/data" --api-key bench-key \
  --ladder 360p:800k,240p:400k --preset ultrafast --segment-seconds 2 \
  --trusted-proxy 127.0.0.1 >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
for i in $(seq "$videos"); do
  "$cli_bin" upload "$work/source.mp4" --server "$origin" --api-key bench-key >/dev/null 2>&1
done
# Until every upload is ready or failed (a busy machine transcodes slowly: no time limit).
while :; do
  state=$(curl -s -H "Authorization: Bearer bench-key" "$origin/v1/videos?per_page=100" |
    python3 -c 'import json,sys
items = json.load(sys.stdin)["items"]
ready = sum(v["status"] == "ready" for v in items)
failed = [v["status_reason"] for v in items if v["status"] == "failed"]
print(ready, len(failed), failed[0] if failed else "")')
  read -r ready failed reason <<<"$state"
  [ "$failed" -gt 0 ] && { echo "a transcode failed: $reason" >&2; exit 1; }
  [ "$ready" -ge "$videos" ] && break
  sleep 1
done

# shellcheck source=../tests/deploy/edge_fixture.sh
source "$src/tests/deploy/edge_fixture.sh"
EDGE_ACCESS_LOG=off EDGE_WORKERS=2 start_edge "$work/nginx" "127.0.0.1:$sport" \
  "127.0.0.1:$sport" "$tport" "$hport" 1g

echo "$videos videos of ${seconds} s (360p, 240p, audio; 2 s segments), $viewers viewers" \
  "($warmup warm-up), $concurrency at once, Zipf s=$zipf, $(nproc) cores"
python3 - "$origin" "https://127.0.0.1:$tport" "$viewers" "$warmup" "$concurrency" "$zipf" \
  "$stop_early" <<'PY'
import http.client, json, random, re, ssl, sys, threading, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor

origin, edge, viewers, warmup, concurrency = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
zipf, stop_early = float(sys.argv[6]), float(sys.argv[7])
rng = random.Random(11)

def get_json(url):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", u.path + ("?" + u.query if u.query else ""),
              headers={"Authorization": "Bearer bench-key"})
    return c.getresponse().read()

def origin_media_requests():
    n = 0
    for line in get_json(origin + "/metrics").decode().splitlines():
        if line.startswith('streamlet_http_requests_total{route="/media/{id}/{file}"'):
            n += int(float(line.split()[-1]))
    return n

videos = [v["id"] for v in json.loads(get_json(origin + "/v1/videos?status=ready&per_page=100"))["items"]]
weights = [1 / (k + 1) ** zipf for k in range(len(videos))]
eu = urllib.parse.urlsplit(edge)
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
local = threading.local()
lock = threading.Lock()

class Counts:
    def __init__(self):
        self.requests = 0
        self.status = {}
        self.bytes = 0
    def add(self, cache, size):
        with lock:
            self.requests += 1
            self.status[cache] = self.status.get(cache, 0) + 1
            self.bytes += size

def fetch(path, counts):
    # One keep-alive connection per thread, as a player keeps one per host.
    for attempt in range(2):
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = http.client.HTTPSConnection(eu.hostname, eu.port, context=tls)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"{path}: HTTP {r.status}")
            counts.add(r.getheader("X-Cache-Status", "-"), len(body))
            return body.decode("utf-8", "replace") if path.endswith(".m3u8") else None
        except (http.client.HTTPException, OSError):
            local.conn = None
            if attempt:
                raise

def resolve(base, uri):
    return urllib.parse.urljoin(base, uri)

def uris(playlist):
    return [l for l in playlist.splitlines() if l and not l.startswith("#")]

def viewer(seed, counts):
    r = random.Random(seed)
    vid = r.choices(videos, weights)[0]
    master_path = f"/media/{vid}/master.m3u8"
    master = fetch(master_path, counts)
    variants = uris(master)
    audio = re.findall(r'#EXT-X-MEDIA:[^\n]*TYPE=AUDIO[^\n]*URI="([^"]+)"', master)
    tracks = [resolve(master_path, r.choice(variants))] + [resolve(master_path, a) for a in audio[:1]]
    lists = []
    for t in tracks:
        text = fetch(t, counts)
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
        if init:
            fetch(resolve(t, init.group(1)), counts)
        lists.append([resolve(t, s) for s in uris(text)])
    n = min(len(l) for l in lists)
    if r.random() < stop_early:
        n = r.randint(1, n)
    for i in range(n):  # video and audio segment i together, in order
        for l in lists:
            fetch(l[i], counts)

def run(first, count, counts):
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(viewer, first + i, counts) for i in range(count)]:
            f.result()

def report(name, counts, origin_requests, seconds):
    hits = counts.status.get("HIT", 0)
    print(f"{name}: {counts.requests} viewer requests in {seconds:.1f} s "
          f"({counts.requests / seconds:.0f}/s, {counts.bytes / 1e6:.1f} MB), "
          f"edge HIT {hits} = {100 * hits / max(counts.requests, 1):.1f}%, "
          f"origin requests {origin_requests} = {100 * origin_requests / max(counts.requests, 1):.1f}% "
          f"of viewer requests; X-Cache-Status {dict(sorted(counts.status.items()))}")

o0 = origin_media_requests()
warm, t0 = Counts(), time.monotonic()
run(0, warmup, warm)
o1, t1 = origin_media_requests(), time.monotonic()
measured = Counts()
run(warmup, viewers - warmup, measured)
o2, t2 = origin_media_requests(), time.monotonic()
report("warm-up", warm, o1 - o0, t1 - t0)
report("after warm-up", measured, o2 - o1, t2 - t1)
PY
