#!/usr/bin/env bash
# Renders deploy/nginx/streamlet-edge.conf for one deployment: fills every @NAME@ from the
# environment and refuses to write a file with a placeholder left or a value that would change
# the config's structure (a ; { } or newline in a value).
#
#   STREAMLET_API_NODES="10.0.1.11:8080 10.0.1.12:8080" \
#   STREAMLET_ORIGIN_NODES="10.0.2.11:8080" \
#   EDGE_TLS_CERT=/etc/ssl/streamlet/fullchain.pem EDGE_TLS_KEY=/etc/ssl/streamlet/key.pem \
#   deploy/nginx/render.sh > /etc/nginx/conf.d/streamlet-edge.conf
#
# Optional: EDGE_SERVER_NAME (default _), EDGE_HTTPS_LISTEN (443), EDGE_HTTP_LISTEN (80),
# EDGE_CACHE_DIR (/var/cache/streamlet-edge), EDGE_CACHE_SIZE (20g).
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
template=${EDGE_TEMPLATE:-$here/streamlet-edge.conf}

die() { echo "render.sh: $*" >&2; exit 2; }

need() {  # name -> value, which must be set and plain
  local v=${!1:-}
  [ -n "$v" ] || die "$1 is not set (see the top of $0)"
  plain "$1" "$v"
  printf '%s' "$v"
}
plain() {
  case "$2" in
    *[\;\{\}\'\"\`\$\\]* | *$'\n'*) die "$1: '$2' has a character nginx would read as syntax" ;;
  esac
}
servers() {  # name -> "    server host:port;" lines
  local list out="" node
  list=$(need "$1")
  for node in $list; do
    [[ $node =~ ^[A-Za-z0-9._-]+:[0-9]{1,5}$ || $node =~ ^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$ ]] ||
      die "$1: '$node' is not HOST:PORT"
    out+="    server $node max_fails=3 fail_timeout=10s;"$'\n'
  done
  printf '%s' "${out%$'\n'}"
}

api=$(servers STREAMLET_API_NODES)
origin=$(servers STREAMLET_ORIGIN_NODES)
cert=$(need EDGE_TLS_CERT)
key=$(need EDGE_TLS_KEY)
name=${EDGE_SERVER_NAME:-_}; plain EDGE_SERVER_NAME "$name"
https=${EDGE_HTTPS_LISTEN:-443}; plain EDGE_HTTPS_LISTEN "$https"
http=${EDGE_HTTP_LISTEN:-80}; plain EDGE_HTTP_LISTEN "$http"
cache_dir=${EDGE_CACHE_DIR:-/var/cache/streamlet-edge}; plain EDGE_CACHE_DIR "$cache_dir"
cache_size=${EDGE_CACHE_SIZE:-20g}
[[ $cache_size =~ ^[0-9]+[kKmMgG]?$ ]] || die "EDGE_CACHE_SIZE: '$cache_size' is not a size like 20g"
[[ $cache_dir == /* ]] || die "EDGE_CACHE_DIR must be an absolute path"

out=$(API_SERVERS=$api ORIGIN_SERVERS=$origin TLS_CERT=$cert TLS_KEY=$key SERVER_NAME=$name \
  HTTPS_LISTEN=$https HTTP_LISTEN=$http CACHE_DIR=$cache_dir CACHE_SIZE=$cache_size \
  python3 - "$template" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
names = ["API_SERVERS", "ORIGIN_SERVERS", "TLS_CERT", "TLS_KEY", "SERVER_NAME",
         "HTTPS_LISTEN", "HTTP_LISTEN", "CACHE_DIR", "CACHE_SIZE"]
for n in names:
    text = text.replace("@" + n + "@", os.environ[n])
left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
if left:
    sys.exit("render.sh: the template has placeholders this script does not know: " + " ".join(left))
sys.stdout.write(text)
PY
)
printf '%s\n' "$out"
