#!/usr/bin/env bash
# The nginx edge of deploy/nginx/, for real: a streamlet-server from the build (temporary data
# directory, free port, two generated clips transcoded, one of them private) behind nginx
# running the repository's streamlet-edge.conf rendered by deploy/nginx/render.sh (free ports,
# a cache directory and a self-signed certificate made here). Checks what the edge promises:
# public segments and playlists are cached (MISS then HIT, the origin asked once), Range is
# answered with the origin's bytes, a private video's objects never leave the edge without a
# valid signature (not even after a signed viewer fetched them), tus uploads stream through,
# HTTP/2 over TLS, and ffmpeg plays the HLS through the edge.
#
#   tests/deploy/edge_cache_test.sh BUILD_DIR SOURCE_DIR
#
# Exits 77 (skipped) when nginx, openssl, ffmpeg or curl with HTTP/2 is missing.
set -euo pipefail
shopt -s inherit_errexit
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
server_bin=$build/server/streamlet-server

skip() { echo "SKIP: $*"; exit 77; }
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } ||
  skip "nginx is not installed (Debian package nginx-light or nginx)"
for tool in openssl ffmpeg ffprobe curl python3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
curl -V | grep -qw HTTP2 || skip "this curl has no HTTP/2"
"$nginx_bin" -V 2>&1 | grep -q http_v2_module || skip "this nginx has no HTTP/2 module"
[ -x "$server_bin" ] || { echo "no $server_bin: build it first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-edge-test.XXXXXX")
chmod 755 "$work"  # nginx started as root reads its cache as the unprivileged worker user
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check() {  # description expected actual
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the origin: streamlet-server with two small videos -------------------------------------
for name in public private; do
  ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=8 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=8 -ac 2 -c:v libx264 \
    -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/$name.mp4"
done
sport=$(free_port)
hport=$(free_port)
tport=$(free_port)
origin=http://127.0.0.1:$sport
edge=https://127.0.0.1:$tport
"$server_bin" --listen "127.0.0.1:$sport" --data "$work/data" --api-key edge-key \
  --ladder 240p:300k --preset ultrafast --segment-seconds 2 --trusted-proxy 127.0.0.1 \
  --public-url "$edge" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
grep -q "listening on" "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
auth=(-H "Authorization: Bearer edge-key")

# --- the edge: the repository's config, rendered ---------------------------------------------
# shellcheck source=edge_fixture.sh
source "$src/tests/deploy/edge_fixture.sh"
start_edge "$work/nginx" "127.0.0.1:$sport" "127.0.0.1:$sport" "$tport" "$hport"
ecurl() { curl -sk --http2 "$@"; }

# --- uploads: tus through the edge (HTTP/2, two PATCHes each, streamed to the api node) ------
tus_upload() {  # name
  local file=$work/$1.mp4 size half location offset part code
  size=$(stat -c %s "$file")
  location=$(ecurl "${auth[@]}" -X POST -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $size" \
    -H "Upload-Metadata: filename $(printf '%s' "$1.mp4" | base64)" -D - -o /dev/null \
    "$edge/v1/uploads" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  case "$location" in
    "$edge"/v1/uploads/*) pass "tus Location behind the edge names the edge ($1)" ;;
    *) fail "tus Location behind the edge ($1): '$location'"; return ;;
  esac
  half=$((size / 2))
  head -c "$half" "$file" >"$work/part1"
  tail -c +"$((half + 1))" "$file" >"$work/part2"
  offset=0
  for part in part1 part2; do
    code=$(ecurl "${auth[@]}" -X PATCH -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: $offset" \
      -H "Content-Type: application/offset+octet-stream" --data-binary "@$work/$part" \
      -o /dev/null -w '%{http_code}' "$location")
    check "tus PATCH $part of $1 through the edge" 204 "$code"
    offset=$((offset + $(stat -c %s "$work/$part")))
  done
}
tus_upload public
tus_upload private

ids=()
for _ in $(seq 600); do
  mapfile -t ids < <(curl -s "${auth[@]}" "$origin/v1/videos?status=ready" |
    python3 -c 'import json,sys; [print(v["id"], v["title"]) for v in json.load(sys.stdin)["items"]]')
  [ "${#ids[@]}" -ge 2 ] && break
  sleep 0.5
done
[ "${#ids[@]}" -ge 2 ] || { echo "the transcodes did not finish" >&2; tail "$work/server.log" >&2; exit 1; }
pub=""; priv=""
for line in "${ids[@]}"; do
  case "${line#* }" in public) pub=${line%% *} ;; private) priv=${line%% *} ;; esac
done
[ -n "$pub" ] && [ -n "$priv" ] || { echo "videos: ${ids[*]}" >&2; exit 1; }
code=$(curl -s "${auth[@]}" -X PATCH -H "Content-Type: application/json" \
  -d '{"visibility":"private"}' -o /dev/null -w '%{http_code}' "$origin/v1/videos/$priv")
check "the second video made private" 200 "$code"

# --- helpers -------------------------------------------------------------------------------
# How many /media requests the origin has answered so far (its own /metrics).
origin_media_requests() {
  curl -s "$origin/metrics" | awk '/^streamlet_http_requests_total\{route="\/media\/\{id\}\/\{file\}"/ {n += $NF} END {print n + 0}'
}
# status and X-Cache-Status of one GET through the edge
edge_get() {  # url [curl args...] -> "STATUS CACHE"
  local url=$1; shift
  ecurl "$@" -o "$work/body" -D "$work/head" -w '%{http_code}' "$url" >"$work/code"
  echo "$(cat "$work/code") $(tr -d '\r' <"$work/head" | awk 'tolower($1)=="x-cache-status:"{print $2}')"
}

# --- HTTP/2 over TLS ---------------------------------------------------------------------------
check "HTTP/2 over TLS" 2 "$(ecurl -o /dev/null -w '%{http_version}' "$edge/healthz")"
check "plain http redirects to https" 301 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/media/$pub/master.m3u8")"

# --- public segments and playlists are cached --------------------------------------------------
seg=/media/$pub/240p/seg_00002.m4s
before=$(origin_media_requests)
check "a public segment, first fetch" "200 MISS" "$(edge_get "$edge$seg")"
cmp -s "$work/body" "$work/data/media/$pub/240p/seg_00002.m4s" && pass "MISS body is the file" ||
  fail "MISS body differs from the file"
check "the same segment again" "200 HIT" "$(edge_get "$edge$seg")"
cmp -s "$work/body" "$work/data/media/$pub/240p/seg_00002.m4s" && pass "HIT body is the file" ||
  fail "HIT body differs from the file"
check "the segment with a cookie and a cache-busting query is the same cache entry" "200 HIT" \
  "$(edge_get "$edge$seg?x=1" -H 'Cookie: session=abc')"
after=$(origin_media_requests)
check "the origin saw one request for three segment fetches" 1 "$((after - before))"

before=$(origin_media_requests)
master_cached_at=$(date +%s)
check "the master playlist, first fetch" "200 MISS" "$(edge_get "$edge/media/$pub/master.m3u8")"
check "the master playlist again" "200 HIT" "$(edge_get "$edge/media/$pub/master.m3u8")"
check "a media playlist, first fetch" "200 MISS" "$(edge_get "$edge/media/$pub/240p/index.m3u8")"
check "the media playlist again" "200 HIT" "$(edge_get "$edge/media/$pub/240p/index.m3u8")"
check "the origin saw one request per playlist" 2 "$(($(origin_media_requests) - before))"
grep -qi '^cache-control: public, max-age=60' "$work/head" &&
  pass "the playlist keeps the origin's Cache-Control" ||
  fail "playlist Cache-Control: $(grep -i cache-control "$work/head")"

# --- Range: the right bytes, on a miss and on a hit ------------------------------------------
for seg_name in seg_00003.m4s seg_00004.m4s; do  # the first range of each is a MISS
  for range in 100-199 0-0 5000- -300; do
    curl -s -r "$range" -o "$work/want" "$origin/media/$pub/240p/$seg_name"
    got=$(edge_get "$edge/media/$pub/240p/$seg_name" -r "$range")
    if [ "${got%% *}" = 206 ] && cmp -s "$work/want" "$work/body"; then
      pass "Range $range of $seg_name through the edge (${got#* })"
    else
      fail "Range $range of $seg_name through the edge: $got, $(stat -c %s "$work/body") bytes"
    fi
  done
done
check "a range past the end" 416 "$(ecurl -r 99999999- -o /dev/null -w '%{http_code}' "$edge$seg")"

# --- private videos: never without a valid signature -----------------------------------------
signed_master=$(curl -s "${auth[@]}" "$origin/v1/videos/$priv" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["playback"]["hls"])')
token=${signed_master#*\?}
case "$token" in exp=*'&sig='*) pass "the API hands out a signed playlist URL" ;;
  *) fail "private playback URL is not signed: $signed_master" ;; esac
pseg=/media/$priv/240p/seg_00001.m4s
check "private segment without a signature, cold" 403 "$(edge_get "$edge$pseg" | cut -d' ' -f1)"
for i in 1 2; do
  check "private segment with a valid signature ($i)" "200 BYPASS" "$(edge_get "$edge$pseg?$token")"
done
cmp -s "$work/body" "$work/data/media/$priv/240p/seg_00001.m4s" && pass "signed body is the file" ||
  fail "signed body differs from the file"
check "private master with a valid signature" "200 BYPASS" "$(edge_get "$edge$signed_master")"
grep -q "seg_\|index.m3u8?$token" "$work/body" && pass "the signed playlist carries the token" ||
  fail "the signed playlist does not carry the token"
check "private media playlist, signed" "200 BYPASS" "$(edge_get "$edge/media/$priv/240p/index.m3u8?$token")"
check "signed range of a private segment" "206 BYPASS" "$(edge_get "$edge$pseg?$token" -r 10-19)"
cmp -s <(tail -c +11 "$work/data/media/$priv/240p/seg_00001.m4s" | head -c 10) "$work/body" &&
  pass "signed range has the right bytes" || fail "signed range has the wrong bytes"
# After signed viewers fetched them, the unsigned, forged, expired and look-alike requests:
for url in "$pseg" "$pseg?x=1" "/media/$priv/master.m3u8" "/media/$priv/240p/index.m3u8" \
  "$pseg?exp=9999999999&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
  "$pseg?exp=9999999999&sig=" "$pseg?exp=&sig=" "$pseg?${token%%&*}" \
  "$pseg?EXP=${token#exp=}" "/media/$pub/../$priv/240p/seg_00001.m4s" \
  "/media/$priv/240p/./seg_00001.m4s" "/media/$priv//240p/seg_00001.m4s" \
  "/media/$priv/240p/seg_00001.m4s?$(python3 -c "import sys; t=sys.argv[1]; print(t[:-2] + ('AA' if t[-2:] != 'AA' else 'BB'))" "$token")"; do
  got=$(edge_get "$edge$url" --path-as-is)
  case "$got" in 403* | 404*) pass "no private bytes for $url (${got})" ;;
    *) fail "private object served for $url: $got" ;; esac
done
# A token with a valid MAC that has expired (the key is the server's own, from its data dir).
expired=$(python3 - "$work/data/secrets" "$priv" <<'PY'
import base64, hashlib, hmac, json, sys
key = json.load(open(sys.argv[1]))["signing_key"].encode()
vid, exp = sys.argv[2], 1000000000
msg = f"streamlet-origin-v1\n{len(vid)}:{vid}\n{exp}".encode()
sig = base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).rstrip(b"=").decode()
print(f"exp={exp}&sig={sig}")
PY
)
got=$(edge_get "$edge$pseg?$expired")
check "an expired (but genuine) signature" "403 BYPASS" "$got"
grep -q "expired" "$work/body" && pass "the answer says the signature expired" ||
  fail "expired answer: $(cat "$work/body")"
# Nothing of the private video was ever written to the cache.
if grep -rlas "KEY: /media/$priv" "$work/nginx/cache" >/dev/null; then
  fail "the cache holds objects of the private video"
else
  pass "the cache holds nothing of the private video"
fi
grep -rlas "KEY: /media/$pub/240p/seg_00002.m4s" "$work/nginx/cache" >/dev/null &&
  pass "the cache does hold the public segment" || fail "the public segment is not in the cache"

# --- the api through the edge: a progress stream (SSE) arrives unbuffered --------------------
events=$(ecurl -N --max-time 10 "${auth[@]}" "$edge/v1/videos/$pub/events" || true)
grep -q '^event: status' <<<"$events" && grep -q '"ready"' <<<"$events" &&
  pass "the video's event stream through the edge" || fail "event stream through the edge: $events"
check "HEAD of a cached segment" "200 HIT" "$(edge_get "$edge$seg" -I)"

# --- render.sh refuses what would change the config's structure ------------------------------
for bad in "STREAMLET_API_NODES=10.0.0.1:80;include_/etc/passwd" "STREAMLET_API_NODES=10.0.0.1" \
  "EDGE_CACHE_SIZE=20 GB" "EDGE_TLS_CERT=/x}"; do
  if env STREAMLET_API_NODES=10.0.0.1:80 STREAMLET_ORIGIN_NODES=10.0.0.2:80 EDGE_TLS_CERT=/c \
    EDGE_TLS_KEY=/k "$bad" bash "$src/deploy/nginx/render.sh" >/dev/null 2>"$work/render.err"; then
    fail "render.sh accepted $bad"
  else
    pass "render.sh refuses $bad: $(cat "$work/render.err")"
  fi
done

# --- a player through the edge -------------------------------------------------------------
if ffmpeg -nostdin -v error -i "$edge/media/$pub/master.m3u8" -map 0 -c copy -f null - \
  2>"$work/ffmpeg.err"; then
  pass "ffmpeg reads the HLS through the edge"
else
  fail "ffmpeg through the edge: $(head -5 "$work/ffmpeg.err")"
fi
duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$edge/media/$pub/master.m3u8")
python3 -c "import sys; sys.exit(0 if abs(float('$duration') - 8) < 0.5 else 1)" &&
  pass "ffprobe through the edge: $duration s" || fail "ffprobe duration through the edge: $duration"
if ffmpeg -nostdin -v error -i "$edge$signed_master" -map 0 -c copy -f null - 2>"$work/ffmpeg.err"; then
  pass "ffmpeg reads the private HLS through the edge with the signed URL"
else
  fail "ffmpeg, private, signed: $(head -5 "$work/ffmpeg.err")"
fi

# --- a public video made private later (docs/deploy.md): the edge keeps what the origin said it
# may keep until its entries are removed, with the command the docs give -------------------
code=$(curl -s "${auth[@]}" -X PATCH -H "Content-Type: application/json" \
  -d '{"visibility":"private"}' -o /dev/null -w '%{http_code}' "$origin/v1/videos/$pub")
check "the public video made private" 200 "$code"
check "its cached segment is still served (documented: Cache-Control said a year)" "200 HIT" \
  "$(edge_get "$edge$seg")"
# Its playlists expire (60 s) and are then revalidated with the origin, which now says 403:
# never a stale copy of a video that became private.
wait_s=$((master_cached_at + 62 - $(date +%s)))
[ "$wait_s" -gt 0 ] && { echo "waiting ${wait_s} s for the cached playlist to expire"; sleep "$wait_s"; }
for i in 1 2 3; do
  got=$(edge_get "$edge/media/$pub/master.m3u8")
  case "$got" in 403*) pass "the expired playlist of the now private video, request $i ($got)" ;;
    *) fail "the expired playlist of the now private video, request $i: $got" ;; esac
done

grep -rlZ --text "^KEY: /media/$pub/" "$work/nginx/cache" | xargs -0r rm -f
got=$(edge_get "$edge$seg")
case "$got" in 403*) pass "after the purge the origin decides again ($got)" ;;
  *) fail "after the purge: $got" ;; esac


if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed; nginx error log:" >&2
  tail -20 "$work/nginx/logs/error.log" >&2
  exit 1
fi
echo "all edge checks passed"
