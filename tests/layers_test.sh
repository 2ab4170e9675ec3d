#!/usr/bin/env bash
# The library's layers depend one way (docs/architecture.md, "Library targets"): no layer may
# need a symbol that only a layer above it defines. Arguments: the layers' library files,
# lowest first (core media platform backends), static archives or shared objects.
set -euo pipefail
nm_flags() { case $1 in *.so*) echo -D ;; *) echo "" ;; esac; }
defined() { nm $(nm_flags "$1") --defined-only -g "$1" 2>/dev/null | awk 'NF==3 && $2 ~ /[TDBRVWu]/ {print $3}' | sort -u; }
undefined() { nm $(nm_flags "$1") -u "$1" 2>/dev/null | awk '{print $NF}' | sort -u; }
layers=("$@")
failed=0
for ((i = 0; i < ${#layers[@]}; i++)); do
  low=${layers[$i]}
  needs=$(comm -23 <(undefined "$low") <(defined "$low"))
  for ((j = i + 1; j < ${#layers[@]}; j++)); do
    high=${layers[$j]}
    upward=$(comm -12 <(echo "$needs") <(defined "$high"))
    if [[ -n $upward ]]; then
      echo "$(basename "$low") needs symbols that only $(basename "$high") defines:"
      echo "$upward" | c++filt | sed 's/^/  /'
      failed=1
    fi
  done
done
if ((failed)); then exit 1; fi
echo "${#layers[@]} layers, every edge points down"
