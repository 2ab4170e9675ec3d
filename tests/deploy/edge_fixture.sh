# Sourced by tests/deploy/edge_cache_test.sh and bench/edge_hit_ratio.sh: nginx running the
# repository's deploy/nginx/streamlet-edge.conf, rendered by deploy/nginx/render.sh into a
# directory of its own (ports, cache, a self-signed certificate made here). Needs `src` (the
# source tree) and a `pids` array (the caller stops what is in it, by PID).

# start_edge DIR API_NODES ORIGIN_NODES HTTPS_PORT HTTP_PORT [CACHE_SIZE]
start_edge() {
  local dir=$1 api=$2 origin=$3 https_port=$4 http_port=$5 cache_size=${6:-100m}
  local nginx_bin user_line=""
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$dir/tmp" "$dir/logs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  STREAMLET_API_NODES=$api STREAMLET_ORIGIN_NODES=$origin \
    EDGE_TLS_CERT=$dir/cert.pem EDGE_TLS_KEY=$dir/key.pem \
    EDGE_HTTPS_LISTEN=127.0.0.1:$https_port EDGE_HTTP_LISTEN=127.0.0.1:$http_port \
    EDGE_CACHE_DIR=$dir/cache EDGE_CACHE_SIZE=$cache_size \
    EDGE_TEMPLATE=${EDGE_TEMPLATE:-$src/deploy/nginx/streamlet-edge.conf} \
    bash "$src/deploy/nginx/render.sh" >"$dir/streamlet-edge.conf"
  # As root, workers run as nobody (the directory must be theirs to traverse).
  [ "$(id -u)" = 0 ] && user_line="user nobody nogroup;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes ${EDGE_WORKERS:-1};
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${EDGE_ACCESS_LOG:-$dir/logs/access.log};
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  include $dir/streamlet-edge.conf;
}
EOF
  "$nginx_bin" -t -q -p "$dir" -c "$dir/nginx.conf" ||
    { echo "nginx refuses the rendered config" >&2; return 1; }
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  local i
  for i in $(seq 50); do
    curl -sk -o /dev/null "https://127.0.0.1:$https_port/healthz" && return 0
    sleep 0.1
  done
  echo "nginx did not answer on $https_port" >&2
  return 1
}
