# Sourced by the cluster benchmarks (worker_scaling.sh, pickup_latency.sh): streamlet-server
# nodes ($server_bin) run in the background and stopped together.
#   spawn_node LOG ARGS...   starts a node, output to LOG
#   start_node LOG ARGS...   the same, then waits until it listens (exits if it does not)
#   stop_nodes               TERMs every node started and waits for each
#   free_port                a free TCP port on 127.0.0.1
pids=()
spawn_node() {
  local log=$1; shift
  "$server_bin" "$@" >"$log" 2>&1 &
  pids+=($!)
}
start_node() {
  spawn_node "$@"
  for _ in $(seq 200); do grep -qs "listening on" "$1" && return; sleep 0.05; done
  echo "node did not start: $(tail -1 "$1")" >&2
  exit 1
}
stop_nodes() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
