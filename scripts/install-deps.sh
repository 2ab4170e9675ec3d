#!/usr/bin/env bash
# Installs the Debian packages Streamlet builds and tests with, and only those
# that are missing: safe to run again and again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
  libx264-dev libtbb-dev libcpp-httplib-dev nlohmann-json3-dev libcxxopts-dev
  libbenchmark-dev doctest-dev libssl-dev libsqlite3-dev libsodium-dev libhttp-parser-dev
  libcurl4-openssl-dev libpq-dev
  ffmpeg time libxml2-utils python3 curl chromium locales
  ca-certificates openssl clang libclang-rt-14-dev
)
# Extra packages a later step may ask for (e.g. prometheus, for its promtool check).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js builds the web app and runs the browser and tus-js-client tests; Debian 12
# has node 18 and npm 9 (web/package.json pins packages that still run on 18). Judged
# by command, not package: a node installed another way (e.g. NodeSource's, whose
# nodejs bundles npm and conflicts with Debian's npm package) counts as present.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages, node and npm present"
  exit 0
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
