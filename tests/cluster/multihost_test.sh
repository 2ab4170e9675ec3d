#!/usr/bin/env bash
# The cluster on separate hosts: network namespaces made here, one per host, on a bridge of
# their own (all traffic stays on this machine):
#   db      PostgreSQL (catalog, queue, events)      s3     Ceph RGW (uploads, media)
#   api1/2  streamlet-server --roles api             w1/w2  --roles worker
#   origin  --roles origin                           edge   nginx (deploy/nginx), TLS + HTTP/2
# The real tus-js-client uploads through the edge and is moved to the other API node half way
# (the first is killed); the worker running the transcode is killed with -9 and the other one
# finishes the job; ffprobe, hls.js and dash.js in Chromium play through the edge; afterwards
# the catalog, the queue and the bucket agree (no stuck job, no orphan object, no open
# multipart upload).
#   multihost_test.sh SERVER_BINARY SOURCE_DIR WEB_NODE_MODULES
set -euo pipefail
server=$1
src=$2
web_modules=$3
skip() { echo "SKIPPED: $*"; exit 77; }
say() { echo "multihost: $*"; }
fail() { echo "FAILED: $*" >&2; keep=1; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "network namespaces need root (ip netns)"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
ip netns add "slprobe$$" 2>/dev/null || skip "this kernel or sandbox does not allow network namespaces"
ip netns del "slprobe$$"
command -v nginx >/dev/null || skip "nginx is not installed"
command -v node >/dev/null || skip "node is not installed"
command -v ffprobe >/dev/null || skip "ffprobe is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
[[ -x /usr/bin/chromium ]] || skip "chromium is not installed"
[[ -d "$web_modules/tus-js-client" && -d "$web_modules/playwright-core" ]] ||
  skip "web/node_modules has no tus-js-client/playwright-core (the web app was not built)"

work=$(mktemp -d /tmp/streamlet-multihost.XXXXXX)
chmod 755 "$work"
net="10.$((200 + RANDOM % 50)).$((RANDOM % 250)).0"
base=${net%.0}
bridge="slbr$$"
declare -A ip=([root]=$base.1 [db]=$base.2 [s3]=$base.3 [api1]=$base.11 [api2]=$base.12
              [w1]=$base.21 [w2]=$base.22 [origin]=$base.31 [edge]=$base.40)
hosts=(db s3 api1 api2 w1 w2 origin edge)
declare -A pid=()
ns() { echo "sl$$-$1"; }
on() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

cleanup() {
  set +e
  if [[ -n "${sse:-}" ]]; then
    touch "$work/sse.stop"; kill "$sse" 2>/dev/null; pkill -P "$sse" curl 2>/dev/null
  fi
  # nginx's master is asked to stop (TERM): killed with -9 it would leave its workers behind,
  # holding the test's output open.
  if [[ -n "${pid[edge]:-}" ]]; then
    kill -TERM "${pid[edge]}" 2>/dev/null
    for _ in $(seq 50); do kill -0 "${pid[edge]}" 2>/dev/null || break; sleep 0.1; done
  fi
  for h in "${!pid[@]}"; do kill -9 "${pid[$h]}" 2>/dev/null; done
  [[ -n "${rgw_stop:-}" ]] && on s3 bash "$src/tests/support/rgw_server.sh" stop "$work/rgw" >/dev/null 2>&1
  on db bash "$src/tests/support/postgres_server.sh" stop "$work/pg" >/dev/null 2>&1
  for h in "${hosts[@]}"; do ip netns del "$(ns "$h")" 2>/dev/null; done
  ip link del "$bridge" 2>/dev/null
  if [[ "${keep:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'keep=1' ERR

# ---- the network ------------------------------------------------------------------------
ip link add "$bridge" type bridge
ip addr add "${ip[root]}/24" dev "$bridge"
ip link set "$bridge" up
i=0
for h in "${hosts[@]}"; do
  i=$((i + 1))
  ip netns add "$(ns "$h")"
  ip link add "sl$$h$i" type veth peer name "sl$$p$i"
  ip link set "sl$$h$i" master "$bridge" up
  ip link set "sl$$p$i" netns "$(ns "$h")"
  on "$h" ip link set lo up
  on "$h" ip link set "sl$$p$i" name eth0
  on "$h" ip addr add "${ip[$h]}/24" dev eth0
  on "$h" ip link set eth0 up
done
say "hosts on $net/24: $(for h in "${hosts[@]}"; do printf '%s=%s ' "$h" "${ip[$h]}"; done)"

wait_http() {  # host url seconds
  local deadline=$((SECONDS + $3))
  until on "$1" curl -skf -o /dev/null "$2"; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.2
  done
}

# ---- the engines ------------------------------------------------------------------------
POSTGRES_LISTEN=${ip[db]} on db bash "$src/tests/support/postgres_server.sh" start "$work/pg"
[[ -f "$work/pg/url" ]] || skip "$(cat "$work/pg/unavailable" 2>/dev/null || echo "PostgreSQL did not start")"
pg_url=$(cat "$work/pg/url")
on db psql -q "$pg_url" -c "CREATE DATABASE streamlet" >/dev/null
catalog_url=${pg_url%/postgres}/streamlet

rgw_stop=1
rc=0
RGW_LISTEN=${ip[s3]} on s3 bash "$src/tests/support/rgw_server.sh" start "$work/rgw" || rc=$?
[[ $rc == 77 ]] && skip "Ceph RGW is not installed (ceph-mon, ceph-osd, radosgw)"
[[ $rc == 0 && -f "$work/rgw/env" ]] || fail "Ceph RGW did not start"
# shellcheck disable=SC1091
source "$work/rgw/env"  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
bucket=streamlet-media
s3() {  # method path [curl args...]: a signed request to the bucket, from the storage host
  local m=$1 p=$2; shift 2
  on s3 curl -sf -X "$m" --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/$bucket$p" "$@"
}
s3 PUT "" -o /dev/null || fail "cannot create the bucket"
storage_url="s3://$bucket?endpoint=$S3_ENDPOINT&region=$S3_REGION&path_style=1"

# ---- the nodes --------------------------------------------------------------------------
api_key=$(openssl rand -hex 24)
edge_url="https://${ip[edge]}:8443"
start_node() {  # host roles [flags...]
  local h=$1 roles=$2; shift 2
  mkdir -p "$work/$h"
  # `ip netns exec` becomes the server (no subshell in between): $! is the server's own PID,
  # which the test kills with -9.
  ip netns exec "$(ns "$h")" "$server" --roles "$roles" --listen "${ip[$h]}:8080" --data "$work/$h" \
    --catalog "$catalog_url" --storage "$storage_url" --api-key "$api_key" \
    --public-url "$edge_url" --trusted-proxy "${ip[edge]}" \
    --ladder 720p,360p --preset medium --segment-seconds 2 --job-lease 4 --workers 1 \
    "$@" >"$work/$h.log" 2>&1 &
  pid[$h]=$!
}
# Every node at the same moment against the empty database: migrations once, one admin.
for h in api1 api2 w1 origin; do
  case $h in api*) r=api ;; w*) r=worker ;; origin) r=origin ;; esac
  start_node "$h" "$r"
done
for h in api1 api2 w1 origin; do
  wait_http "$h" "http://${ip[$h]}:8080/healthz" 60 || { cat "$work/$h.log"; fail "$h did not answer /healthz"; }
done
admins=$(on db psql -tA "$catalog_url" -c "SELECT count(*) FROM users WHERE username = 'admin'")
[[ "$admins" == 1 ]] || fail "four nodes starting at once made $admins admin users"
say "api1, api2, w1 and origin are up (one admin user)"

# ---- the edge ----------------------------------------------------------------------------
# The repository's deploy/nginx config, rendered for these hosts, on the edge host.
e=$work/edge
mkdir -p "$e/tmp" "$e/logs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=${ip[edge]}" -addext "subjectAltName=IP:${ip[edge]}" \
  -keyout "$e/key.pem" -out "$e/cert.pem" 2>/dev/null
STREAMLET_API_NODES="${ip[api1]}:8080 ${ip[api2]}:8080" STREAMLET_ORIGIN_NODES="${ip[origin]}:8080" \
  EDGE_TLS_CERT=$e/cert.pem EDGE_TLS_KEY=$e/key.pem \
  EDGE_HTTPS_LISTEN=${ip[edge]}:8443 EDGE_HTTP_LISTEN=${ip[edge]}:8081 \
  EDGE_CACHE_DIR=$e/cache EDGE_CACHE_SIZE=200m \
  bash "$src/deploy/nginx/render.sh" >"$e/streamlet-edge.conf"
cat >"$e/nginx.conf" <<CONF
user nobody nogroup;
worker_processes 1;
pid $e/nginx.pid;
error_log $e/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log $e/logs/access.log;
  client_body_temp_path $e/tmp/body;
  proxy_temp_path $e/tmp/proxy;
  fastcgi_temp_path $e/tmp/fastcgi;
  uwsgi_temp_path $e/tmp/uwsgi;
  scgi_temp_path $e/tmp/scgi;
  include $e/streamlet-edge.conf;
}
CONF
on edge nginx -t -q -p "$e" -c "$e/nginx.conf" || fail "nginx refuses the rendered config"
ip netns exec "$(ns edge)" nginx -p "$e" -c "$e/nginx.conf" -g 'daemon off;' \
  >"$e/logs/nginx.out" 2>&1 &
pid[edge]=$!
wait_http edge "$edge_url/healthz" 20 || fail "the edge does not answer ($(tail -5 "$e/logs/error.log"))"
say "the edge answers on $edge_url"

# ---- upload, moved to the other API node half way --------------------------------------
ffmpeg -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=20" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" -ac 2 \
  -c:v libx264 -preset ultrafast -crf 30 -pix_fmt yuv420p -c:a aac -shortest "$work/clip.mp4"
echo "$(stat -c %s "$work/clip.mp4") bytes to upload"
# Whichever API node the edge sent the creation to is killed half way; the client resumes
# through the edge on the other one, from the offset kept in S3.
kill_cmd="kill -9 ${pid[api1]}; echo 'multihost: api1 killed half way through the upload' >&2"
STREAMLET_WEB_MODULES=$web_modules STREAMLET_VIDEO_ID_FILE=$work/video-id \
  node "$src/tests/cluster/cluster_client.mjs" upload "$edge_url" "$work/clip.mp4" "$api_key" \
  "$kill_cmd" >"$work/upload.json" &
uploader=$!
deadline=$((SECONDS + 30))
until [[ -s "$work/video-id" ]]; do
  [[ $SECONDS -lt $deadline ]] || fail "the upload was not created"
  sleep 0.05
done
video=$(cat "$work/video-id")
# The progress stream, from an API node, of a transcode that will run on a worker host.
# The edge may have sent the stream to api1, which dies half way through the upload; like a
# browser's EventSource, the follower reconnects (through the edge, to a live API node).
(
  while [[ ! -e "$work/sse.stop" ]]; do
    curl -skN -H "Authorization: Bearer $api_key" "$edge_url/v1/videos/$video/events" \
      >>"$work/events.txt" 2>/dev/null
    sleep 0.2
  done
) &
sse=$!
wait "$uploader" || fail "the upload did not finish"
kill -0 "${pid[api1]}" 2>/dev/null && fail "api1 was not killed during the upload"
unset 'pid[api1]'
say "uploaded video $video through the edge, api1 killed half way ($(cat "$work/upload.json"))"
api() { curl -skf -H "Authorization: Bearer $api_key" "$edge_url$1"; }
status() { api "/v1/videos/$video" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).status))'; }

# ---- a worker killed mid-transcode ------------------------------------------------------
deadline=$((SECONDS + 60))
until grep -q '^event: progress' "$work/events.txt" 2>/dev/null; do
  [[ $SECONDS -lt $deadline ]] || fail "no progress reached the stream (status $(status))"
  sleep 0.1
done
start_node w2 worker
wait_http w2 "http://${ip[w2]}:8080/healthz" 30 || fail "w2 did not start"
kill -9 "${pid[w1]}"
wait "${pid[w1]}" 2>/dev/null || true
kill -0 "${pid[w1]}" 2>/dev/null && fail "w1 is still alive after kill -9"
unset 'pid[w1]'
say "w1 killed with -9 mid-transcode; w2 is up"
deadline=$((SECONDS + 180))
while s=$(status); [[ "$s" != ready ]]; do
  [[ "$s" != failed ]] || fail "one crashed worker failed the video: $(api "/v1/videos/$video")"
  [[ $SECONDS -lt $deadline ]] || fail "the video is still $s"
  sleep 0.5
done
touch "$work/sse.stop"
pkill -P "$sse" curl 2>/dev/null || true
wait "$sse" 2>/dev/null || true
grep -q '"status":"ready"' "$work/events.txt" || fail "the stream never told ready: $(tail -c 600 "$work/events.txt")"
if grep -q '"status":"failed"' "$work/events.txt"; then fail "the stream told failed"; fi
say "w2 finished the job; the API node's stream carried the worker's progress and ready"

# ---- playback through the edge ----------------------------------------------------------
view=$(api "/v1/videos/$video")
hls=$(node -e 'console.log(JSON.parse(process.argv[1]).playback.hls)' "$view")
dash=$(node -e 'console.log(JSON.parse(process.argv[1]).playback.dash)' "$view")
[[ "$hls" == http* ]] || hls="$edge_url$hls"
[[ "$dash" == http* ]] || dash="$edge_url$dash"
for url in "$hls" "$dash"; do
  dur=$(ffprobe -v error -tls_verify 0 -show_entries format=duration -of csv=p=0 "$url") ||
    fail "ffprobe cannot read $url through the edge"
  awk -v d="$dur" 'BEGIN { exit !(d > 19 && d < 21) }' || fail "$url lasts $dur s, not 20"
done
say "ffprobe reads HLS and DASH through the edge (20 s)"
for kind in hls dash; do
  STREAMLET_WEB_MODULES=$web_modules node "$src/tests/cluster/cluster_client.mjs" \
    play "$edge_url" "$video" "$api_key" "$kind" || fail "Chromium did not play $kind through the edge"
done
track=${hls%master.m3u8}360p
seg=$(curl -sk "$track/index.m3u8" | grep -v '^#' | head -1 || true)
[[ -n "$seg" ]] || fail "no segment in $track/index.m3u8"
curl -sk -o /dev/null "$track/$seg"
cache=$(curl -sk -D - -o /dev/null "$track/$seg" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache-status"{print $2}')
[[ "$cache" == HIT ]] || fail "a segment fetched twice was not served from the edge cache ($cache)"
say "segments come from the edge cache (X-Cache-Status: HIT)"

# ---- the catalog, the queue and the bucket agree ----------------------------------------
sql() { on db psql -tA "$catalog_url" -c "$1"; }
stuck=$(sql "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')")
[[ "$stuck" == 0 ]] || fail "$stuck job(s) are still queued or running"
[[ "$(sql "SELECT state FROM jobs WHERE video_id = '$video'")" == succeeded ]] || fail "the job did not succeed"
# w1's attempt was lost with it; w2's finished: two attempts of one job.
attempts=$(sql "SELECT attempts FROM jobs WHERE video_id = '$video'")
[[ "$attempts" == 2 ]] || fail "the job took $attempts attempt(s), not w1's lost one and w2's"
keys=$(s3 GET "?list-type=2&max-keys=1000" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g')
videos=$(sql "SELECT id FROM videos")
while read -r key; do
  [[ -z "$key" ]] && continue
  case $key in
    media/*) owner=${key#media/}; owner=${owner%%/*} ;;
    upload-links/*) owner=${key#upload-links/} ;;
    uploads/*) continue ;;  # checked below against the upload's own state
    *) fail "an object outside the layout: $key" ;;
  esac
  grep -qx "$owner" <<<"$videos" || fail "orphan object $key (no video $owner)"
done <<<"$keys"
grep -q "^media/$video/master.m3u8$" <<<"$keys" || fail "the video's master playlist is not in the bucket"
if grep -q '\.tail\.' <<<"$keys"; then fail "an upload tail object was left: $(grep '\.tail\.' <<<"$keys")"; fi
open_parts=$(s3 GET "?uploads=" | grep -c '<Upload>' || true)
[[ "$open_parts" == 0 ]] || fail "$open_parts multipart upload(s) were left open"
say "catalog, queue and bucket agree ($(wc -l <<<"$keys") objects)"
echo "multihost: passed"
