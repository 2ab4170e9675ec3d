#!/usr/bin/env bash
# Side-by-side: `streamlet-cli transcode` against ONE ffmpeg command that
# produces the same ladder (decode once, split + scale per rung, libx264 with
# the same preset, bitrates, VBV, keyframe cadence and 6 s fMP4 segments, AAC
# once), for each ladder shape: the default 4-rung ladder from 1080p, a
# 720p-topped ladder from 720p, one rung, a portrait phone video, 60 fps.
# Prints one table: median wall time of each, their ratio, CPU utilisation
# (user+sys over wall x cores), PSNR of the top rendition, peak RSS, and the
# physical limit: the CPU time of the same ladder encoded single-threaded
# (decode, scale, x264 with one thread, audio, mux) over the cores.
# A performance report, not a test: nothing is asserted.
#
#   bench/side_by_side.sh [--shapes all|LIST] [--duration S] [--runs N] [--preset P]
#                         [--size WxH --fps F --ladder LIST] [--lengths 10,40]
#                         [--cli PATH] [--ffmpeg-only] [--no-limit] [--keep]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# name:source size:fps:ladder
all_shapes=(
  ladder4:1920x1080:30:1080p,720p,480p,360p
  top720:1280x720:30:720p,480p,360p
  single:1920x1080:30:1080p
  portrait:1080x1920:30:1080p,720p,480p,360p
  fps60:1920x1080:60:1080p,720p,480p,360p
)
shapes=all
duration=8
size="" fps="" ladder=""
runs=2
preset=veryfast
lengths=""
segment_seconds=6
cli="$root/build/cli/streamlet-cli"
ffmpeg_only=0
limit=1
keep=0
cores=$(nproc)

usage() {
  cat <<EOF
usage: $(basename "$0") [options]
  --shapes LIST     shapes to run, comma-separated, or all (default $shapes):
                    $(printf '%s ' "${all_shapes[@]}")
  --size WxH --fps F --ladder LIST
                    one custom shape instead (any of the three; the others default to
                    1920x1080, 30, 720p,480p,360p)
  --duration S      source length in seconds (default $duration; noisy testsrc2 + stereo sine)
  --runs N          runs per tool, alternating streamlet/ffmpeg (default $runs)
  --preset P        x264 preset for both (default $preset)
  --lengths A,B     memory mode instead: streamlet's peak RSS for sources of A and B
                    seconds (one run each), to show memory does not grow with length
  --cli PATH        streamlet-cli binary (default build/cli/streamlet-cli)
  --ffmpeg-only     run only the ffmpeg half (to check the baseline)
  --no-limit        skip the single-threaded run that measures the physical limit
  --keep            keep the scratch directory (sources and outputs)
EOF
}

die() {
  echo "side_by_side: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --fps) fps=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --preset) preset=${2:?}; shift 2 ;;
    --ladder) ladder=${2:?}; shift 2 ;;
    --lengths) lengths=${2:?}; shift 2 ;;
    --cli) cli=${2:?}; shift 2 ;;
    --ffmpeg-only) ffmpeg_only=1; shift ;;
    --no-limit) limit=0; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ $duration =~ ^[0-9]+$ && $duration -gt 0 ]] || die "--duration must be a positive integer"
[[ $runs =~ ^[0-9]+$ && $runs -gt 0 ]] || die "--runs must be a positive integer"
if [ -n "$lengths" ]; then
  [[ $lengths =~ ^[0-9]+(,[0-9]+)+$ ]] || die "--lengths must be a comma-separated list of seconds"
fi

# The shapes to run, as name:size:fps:ladder.
selected=()
if [ -n "$size$fps$ladder" ] || [ -n "$lengths" ]; then
  selected=("custom:${size:-1920x1080}:${fps:-30}:${ladder:-720p,480p,360p}")
elif [ "$shapes" = all ]; then
  selected=("${all_shapes[@]}")
else
  IFS=, read -r -a names <<<"$shapes"
  for n in "${names[@]}"; do
    found=""
    for s in "${all_shapes[@]}"; do [ "${s%%:*}" = "$n" ] && found=$s; done
    [ -n "$found" ] || die "unknown shape '$n' (known: all $(printf '%s ' "${all_shapes[@]%%:*}"))"
    selected+=("$found")
  done
fi

# The ladder's bitrates (kb/s). maxrate is 107% and bufsize 150% of the target.
rung_kbps() {
  case "$1" in
    1080p) echo 5000 ;;
    720p) echo 2800 ;;
    480p) echo 1400 ;;
    360p) echo 800 ;;
    *) return 1 ;;
  esac
}

# Sets size, src_w, src_h, fps, ladder, rungs, top and portrait from name:size:fps:ladder.
load_shape() {
  local rest=${1#*:} r h short
  size=${rest%%:*} rest=${rest#*:}
  fps=${rest%%:*} ladder=${rest#*:}
  [[ $size =~ ^([0-9]+)x([0-9]+)$ ]] || die "--size must be WxH"
  src_w=${BASH_REMATCH[1]} src_h=${BASH_REMATCH[2]}
  [[ $fps =~ ^[0-9]+$ && $fps -gt 0 ]] || die "--fps must be a positive integer"
  portrait=0
  [ "$src_h" -le "$src_w" ] || portrait=1
  short=$((src_w < src_h ? src_w : src_h))
  IFS=, read -r -a rungs <<<"$ladder"
  [ ${#rungs[@]} -gt 0 ] || die "--ladder is empty"
  top="" top_h=0
  for r in "${rungs[@]}"; do
    rung_kbps "$r" >/dev/null || die "unknown rung '$r' (known: 1080p,720p,480p,360p)"
    h=${r%p}
    [ "$h" -le "$short" ] || die "rung $r is taller than the ${size} source's short side"
    if [ "$h" -gt "$top_h" ]; then top=$r top_h=$h; fi
  done
}
for s in "${selected[@]}"; do load_shape "$s"; done  # validate them all before any work
command -v ffmpeg >/dev/null || die "ffmpeg not found"
command -v python3 >/dev/null || die "python3 not found"
[ -x /usr/bin/time ] && /usr/bin/time -f %e true >/dev/null 2>&1 ||
  die "GNU time not found at /usr/bin/time (Debian package: time)"
if [ "$ffmpeg_only" = 0 ] && [ ! -x "$cli" ]; then
  die "streamlet-cli not found at $cli
  build it first:  cmake --build build --target streamlet-cli
  or pass --cli PATH, or --ffmpeg-only to run just the ffmpeg baseline"
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-sbs.XXXXXX")
if [ "$keep" = 1 ]; then
  echo "scratch directory kept: $scratch" >&2
else
  trap 'rm -rf "$scratch"' EXIT
fi
results="$scratch/results.tsv"
: >"$results"

# A noisy test pattern is far harder to encode than flat colour, closer to
# camera footage. crf 23 keeps the file small; PSNR is measured against this
# decoded source, so its own losses do not enter the comparison.
make_source() {  # seconds path
  echo "generating a ${1} s ${size} ${fps} fps source ..." >&2
  ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "testsrc2=size=${size}:rate=${fps},noise=alls=8:allf=t" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo" \
    -t "$1" -c:v libx264 -preset ultrafast -crf 23 -pix_fmt yuv420p -g $((fps * 2)) \
    -c:a aac -b:a 192k "$2"
}

streamlet_cmd_array() {  # src out
  cmd=("$cli" transcode "$1" -o "$2" --ladder "$ladder" --preset "$preset"
    --segment-seconds "$segment_seconds")
}

# One ffmpeg process for the whole ladder, written as an array to keep quoting exact.
# A rung names the short side, as streamlet's ladder does (portrait: the width).
# `threads` (the limit run) is 1 for single-threaded decode and x264, else empty.
ffmpeg_cmd_array() {  # src out [threads]
  local src=$1 out=$2 threads=${3:-} n=${#rungs[@]} graph i kbps map="" h
  graph="[0:v]split=${n}"
  for ((i = 0; i < n; i++)); do graph+="[s$i]"; done
  for ((i = 0; i < n; i++)); do
    h=${rungs[$i]%p}
    if [ "$portrait" = 1 ]; then h="$h:-2"; else h="-2:$h"; fi
    graph+=";[s$i]scale=${h}:flags=bicubic[v$i]"
  done
  cmd=(ffmpeg -hide_banner -loglevel error -nostdin -y)
  [ -z "$threads" ] || cmd+=(-threads "$threads")
  cmd+=(-i "$src" -filter_complex "$graph")
  for ((i = 0; i < n; i++)); do cmd+=(-map "[v$i]"); done
  cmd+=(-map 0:a:0 -c:v libx264 -preset "$preset" -profile:v high -pix_fmt yuv420p
    -sc_threshold 0 -force_key_frames "expr:gte(t,n_forced*2)")
  [ -z "$threads" ] || cmd+=(-threads "$threads")
  for ((i = 0; i < n; i++)); do
    kbps=$(rung_kbps "${rungs[$i]}")
    cmd+=("-b:v:$i" "${kbps}k" "-maxrate:v:$i" "$((kbps * 107 / 100))k"
      "-bufsize:v:$i" "$((kbps * 3 / 2))k")
    map+="v:$i,agroup:aud,name:${rungs[$i]} "
  done
  map+="a:0,agroup:aud,name:audio"
  cmd+=(-c:a aac -b:a 128k -ac 2
    -f hls -hls_time "$segment_seconds" -hls_playlist_type vod -hls_segment_type fmp4
    -hls_flags independent_segments -hls_fmp4_init_filename init.mp4
    -hls_segment_filename "$out/%v/seg_%05d.m4s" -master_pl_name master.m3u8
    -var_stream_map "$map" "$out/%v/index.m3u8")
}

# Appends "shape label run wall rss_kb user sys" to results. Labels: streamlet,
# ffmpeg, limit (the single-threaded ffmpeg run whose CPU time is the limit).
run_timed() {  # shape label run src out
  local shape=$1 label=$2 run=$3 src=$4 out=$5
  local timing="$scratch/time.txt" log="$scratch/$shape.$label.$run.log"
  rm -rf "$out"
  mkdir -p "$out"
  case "$label" in
    streamlet) streamlet_cmd_array "$src" "$out" ;;
    ffmpeg) ffmpeg_cmd_array "$src" "$out" ;;
    limit) ffmpeg_cmd_array "$src" "$out" 1 ;;
  esac
  if ! /usr/bin/time -f "%e %M %U %S" -o "$timing" "${cmd[@]}" >"$log" 2>&1; then
    echo "side_by_side: $shape $label run $run failed; command and output:" >&2
    printf '  %q' "${cmd[@]}" >&2
    echo >&2
    tail -20 "$log" >&2
    exit 1
  fi
  # GNU time puts "Command exited with non-zero status" first when it applies.
  read -r wall rss user sys < <(tail -1 "$timing")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" "$label" "$run" "$wall" "$rss" "$user" "$sys" >>"$results"
  printf '  %-8s %-9s run %d: %6.2f s wall, %6.2f s CPU, %4d MB\n' "$shape" "$label" "$run" "$wall" \
    "$(awk "BEGIN{print $user + $sys}")" $((rss / 1024)) >&2
}

# PSNR of a rendition against the source, after scaling it back to the source
# size the way a player would. Timestamps are rebased so the two line up.
psnr() {  # playlist src
  ffmpeg -hide_banner -nostats -nostdin -i "$1" -i "$2" -lavfi \
    "[0:v]setpts=PTS-STARTPTS,scale=${src_w}x${src_h}:flags=bicubic[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]psnr" \
    -f null - 2>&1 | sed -n 's/.*PSNR .* average:\([0-9.a-z]*\).*/\1/p' | tail -1
}

# Bits per second of a rendition's media segments (init excluded) over the source length.
rendition_kbps() {  # dir seconds
  local bytes
  bytes=$(cat "$1"/*.m4s 2>/dev/null | wc -c)
  echo $((bytes * 8 / 1000 / $2))
}

if [ -n "$lengths" ]; then
  IFS=, read -r -a secs <<<"$lengths"
  [ "$ffmpeg_only" = 0 ] || die "--lengths measures streamlet; drop --ffmpeg-only"
  load_shape "${selected[0]}"
  for s in "${secs[@]}"; do
    make_source "$s" "$scratch/src_$s.mp4"
    run_timed length streamlet "$s" "$scratch/src_$s.mp4" "$scratch/out_len_$s"
    rm -rf "$scratch/out_len_$s" "$scratch/src_$s.mp4"
  done
  python3 "$here/side_by_side_report.py" lengths "$results" \
    "source=${size} ${fps} fps" "ladder=$ladder" "preset=$preset"
  exit 0
fi

quality="$scratch/quality.tsv"  # shape key value
: >"$quality"
labels=(streamlet ffmpeg)
[ "$ffmpeg_only" = 0 ] || labels=(ffmpeg)
for s in "${selected[@]}"; do
  load_shape "$s"
  shape=${s%%:*}
  src="$scratch/source.mp4"
  make_source "$duration" "$src"
  echo "$shape: $size ${fps} fps, ladder $ladder; $runs x ${labels[*]}, alternating ..." >&2
  for ((run = 1; run <= runs; run++)); do
    for label in "${labels[@]}"; do run_timed "$shape" "$label" "$run" "$src" "$scratch/out_$label"; done
  done
  [ "$limit" = 0 ] || run_timed "$shape" limit 1 "$src" "$scratch/out_limit"
  # Quality and rate from the last run of each: x264 output does not change between runs.
  for label in "${labels[@]}"; do
    dir="$scratch/out_$label/$top"
    [ -f "$dir/index.m3u8" ] || die "$label wrote no $top/index.m3u8 (expected DIR/<rung>/index.m3u8)"
    printf '%s\tpsnr_%s\t%s\n' "$shape" "$label" "$(psnr "$dir/index.m3u8" "$src")" >>"$quality"
    printf '%s\tkbps_%s\t%s\n' "$shape" "$label" "$(rendition_kbps "$dir" "$duration")" >>"$quality"
  done
  printf '%s\tdesc\t%s %sfps %s\n' "$shape" "$size" "$fps" "$ladder" >>"$quality"
  rm -rf "$src" "$scratch"/out_*
done

python3 "$here/side_by_side_report.py" shapes "$results" "$quality" "cores=$cores" \
  "preset=$preset" "source=${duration} s" "segments=${segment_seconds} s" "runs=$runs"
