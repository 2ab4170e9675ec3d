#!/usr/bin/env bash
# Job pick-up latency as a user sees it: from the 204 of an upload's last tus PATCH to the first
# sign on the video's event stream (SSE, GET /v1/videos/{id}/events on the API node) that a
# worker has started: the "processing" status or a progress event. Over real HTTP, one upload at
# a time on an idle cluster (the next starts once the previous is ready), in two set-ups:
#   sqlite-1     one node with every role, SQLite + local storage (the single-machine default;
#                the platform wakes its own worker right after the enqueue)
#   postgres-2   an API node and a worker process on a throwaway PostgreSQL (started with
#                tests/support/postgres_server.sh): the enqueue NOTIFYs, the worker's status
#                comes back to the API node's stream over LISTEN/NOTIFY
# (Two processes on one SQLite file have no event bus between them, so the API node's stream
# would never hear the worker: that set-up is not measurable this way.) A negative figure
# means the worker's "processing" reached the stream before the 204 reached the client.
# Median, p95, min and max over --uploads uploads each. Printed, never asserted.
#
#   bench/pickup_latency.sh [--build build] [--uploads 20] [--setups "sqlite-1 postgres-2"]
#
# Needs a built streamlet-server, ffmpeg, python3. Run it under `flock /work/bench.lock`.
set -euo pipefail
shopt -s inherit_errexit

build=build uploads=20 setups="sqlite-1 postgres-2"
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --uploads) uploads=$2; shift 2 ;;
    --setups) setups=$2; shift 2 ;;
    *) sed -n '16p' "$0" >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
server_bin=$build/server/streamlet-server
[ -x "$server_bin" ] || { echo "no $server_bin: build it first" >&2; exit 2; }
for tool in ffmpeg python3; do command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-pickup.XXXXXX")
chmod 755 "$work"
# shellcheck source=server_nodes.sh
source "$src/bench/server_nodes.sh"
cleanup() {
  stop_nodes
  bash "$src/tests/support/postgres_server.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=320x240:rate=25:duration=1" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" -ac 2 -c:v libx264 \
  -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/clip.mp4"
common=(--api-key bench-key --ladder 240p:300k --preset ultrafast --segment-seconds 1)

echo "$uploads uploads of a 1 s 320x240 clip ($(stat -c %s "$work/clip.mp4") bytes), one at a" \
  "time; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-12s %9s %9s %9s %9s\n' setup "median ms" "p95 ms" "min ms" "max ms"
for setup in $setups; do
  dir=$work/$setup
  mkdir -p "$dir/api" "$dir/worker"
  port=$(free_port)
  case "$setup" in
    sqlite-1)
      start_node "$dir/api/log" --listen "127.0.0.1:$port" --data "$dir/api/data" "${common[@]}" ;;
    postgres-2)
      bash "$src/tests/support/postgres_server.sh" start "$work/pg" >/dev/null
      [ -f "$work/pg/url" ] || { echo "postgres-2 skipped: $(cat "$work/pg/unavailable")" >&2; continue; }
      shared=(--catalog "$(cat "$work/pg/url")" --storage "$dir/store" "${common[@]}")
      start_node "$dir/api/log" --roles api,origin --listen "127.0.0.1:$port" \
        --data "$dir/api/data" "${shared[@]}"
      start_node "$dir/worker/log" --roles worker --listen 127.0.0.1:0 --data "$dir/worker/data" \
        "${shared[@]}" ;;
    *) echo "unknown setup $setup" >&2; exit 2 ;;
  esac
  python3 - "$setup" "http://127.0.0.1:$port" "$work/clip.mp4" "$uploads" <<'PY'
import base64, http.client, json, statistics, sys, threading, time, urllib.parse

setup, base, clip, uploads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlsplit(base)
auth = {"Authorization": "Bearer bench-key", "Tus-Resumable": "1.0.0"}
body = open(clip, "rb").read()

def request(method, path, headers=None, data=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.request(method, path, body=data, headers={**auth, **(headers or {})})
    r = c.getresponse()
    out = r.read()
    return r, out

def meta(**kv):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kv.items())

latencies = []
for i in range(uploads):
    r, _ = request("POST", "/v1/uploads", {"Upload-Length": str(len(body)),
                                           "Upload-Metadata": meta(filename=f"clip{i}.mp4", visibility="public")})
    assert r.status == 201, (r.status, r.read())
    location = urllib.parse.urlsplit(r.getheader("Location")).path
    video = r.getheader("Streamlet-Video-Id")
    # The event stream is open (its first event, "uploading", has arrived) before the last PATCH.
    sse = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    sse.request("GET", f"/v1/videos/{video}/events", headers=auth)
    stream = sse.getresponse()
    assert stream.status == 200, stream.status
    seen = {}
    def follow():
        event = None
        for raw in stream.fp:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "status" and "first" not in seen:
                    seen["first"] = data["status"]
                    seen.setdefault("open", time.monotonic())
                    continue
                if "start" not in seen and (event == "progress" or data.get("status") in ("processing", "ready")):
                    seen["start"] = time.monotonic()
                if event == "status" and data.get("status") in ("ready", "failed"):
                    seen["end"] = data
                    return
    t = threading.Thread(target=follow, daemon=True)
    t.start()
    while "open" not in seen:
        time.sleep(0.001)
    assert seen["first"] == "uploading", seen
    r, _ = request("PATCH", location, {"Upload-Offset": "0",
                                       "Content-Type": "application/offset+octet-stream"}, body)
    acked = time.monotonic()
    assert r.status == 204, r.status
    t.join(120)
    assert seen.get("end", {}).get("status") == "ready", seen
    latencies.append((seen["start"] - acked) * 1000)
    sse.close()
latencies.sort()
p95 = latencies[min(len(latencies) - 1, int(round(0.95 * len(latencies))) - 1)]
print(f"{setup:<12} {statistics.median(latencies):9.1f} {p95:9.1f} {latencies[0]:9.1f} {latencies[-1]:9.1f}")
PY
  stop_nodes
done
