#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: `postgres_server.sh start DIR` runs initdb and pg_ctl in
# DIR, listening on 127.0.0.1 (a free port) and a unix socket in DIR, trust auth for the local
# test user "streamlet" (a superuser, so tests may create databases and extensions), and writes
# DIR/url. `postgres_server.sh stop DIR` stops it (pg_ctl stop -m fast, by the PID in
# DIR/data/postmaster.pid); `restart DIR` restarts it on the same port. PostgreSQL refuses to run as root, so as root the server runs as
# `nobody` and DIR is handed to it.
# STREAMLET_POSTGRES_BINDIR=/path/to/bin picks the server binaries; otherwise pg_config --bindir,
# then the newest /usr/lib/postgresql/*/bin. When PostgreSQL is not installed, start succeeds with a note in DIR/unavailable and no url:
# the tests that need it exit 77 with that note.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|restart|stop DIR" >&2
  exit 2
fi

find_bindir() {
  local d
  # An explicit choice (another PostgreSQL version or layout) is the only place looked at.
  if [[ -n "${STREAMLET_POSTGRES_BINDIR:-}" ]]; then
    d=$STREAMLET_POSTGRES_BINDIR
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; fi
    return
  fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return; fi
  done
}

as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u nobody -- "$@"
    else
      setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    fi
  else
    "$@"
  fi
}

free_port() {
  # Ask the kernel for a free port (bind to 0); python3 is there on Debian, ss as a fallback.
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do
      p=$((20000 + RANDOM % 40000))
      if ! ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return; fi
    done
  fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/url" "$dir/unavailable"
    bindir=$(find_bindir || true)
    if [[ -z "$bindir" ]]; then
      echo "PostgreSQL is not installed (no initdb/pg_ctl in ${STREAMLET_POSTGRES_BINDIR:-pg_config --bindir or /usr/lib/postgresql/*/bin}; apt-get install postgresql postgresql-contrib)" \
        | tee "$dir/unavailable"
      exit 0
    fi
    # A server left over from an interrupted run is stopped first.
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_server_user "$bindir/pg_ctl" stop -D "$dir/data" -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$dir/data"
    if [[ $(id -u) -eq 0 ]]; then
      chown nobody "$dir"
      # nobody must be able to reach DIR through every parent.
      if ! runuser -u nobody -- test -w "$dir"; then
        echo "PostgreSQL cannot run here: user nobody cannot write $dir (a parent directory is not searchable)" \
          | tee "$dir/unavailable"
        exit 0
      fi
    fi
    cd "$dir"
    as_server_user "$bindir/initdb" -D "$dir/data" -U streamlet --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
      }
    # Speed over durability: the cluster is thrown away after the run.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    for attempt in 1 2 3 4 5; do
      port=$(free_port)
      if as_server_user "$bindir/pg_ctl" start -D "$dir/data" -w -t 60 -l "$dir/server.log" \
           -o "-p $port" >/dev/null 2>&1; then
        echo "postgresql://streamlet@127.0.0.1:$port/postgres" >"$dir/url.tmp"
        mv "$dir/url.tmp" "$dir/url"
        echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir/data"
        exit 0
      fi
    done
    echo "PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
    ;;
  restart)
    # The same data and port (pg_ctl reuses postmaster.opts): what clients see when a server
    # restarts under them.
    dir=$(cd "$dir" && pwd)
    bindir=$(find_bindir)
    as_server_user "$bindir/pg_ctl" restart -D "$dir/data" -m fast -w -t 60 -l "$dir/server.log" >/dev/null
    ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/url"
    [[ -f "$dir/data/postmaster.pid" ]] || exit 0
    bindir=$(find_bindir || true)
    pid=$(head -1 "$dir/data/postmaster.pid")
    if [[ -n "$bindir" ]] && as_server_user "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w >/dev/null 2>&1; then
      exit 0
    fi
    # pg_ctl could not do it: the postmaster's own PID, never a process found by name.
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    ;;
  *)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
