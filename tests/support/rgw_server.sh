#!/usr/bin/env bash
# A throwaway single-node Ceph RGW (S3) for the tests: one mon, one bluestore OSD on a sparse
# file, radosgw on a free port, an S3 user. Everything lives under DIR; nothing else on the
# machine is touched.
#   rgw_server.sh start DIR   -> DIR/env holds S3_ENDPOINT, AWS_ACCESS_KEY_ID, ... (sourceable)
#   rgw_server.sh stop DIR    -> stops rgw, osd, mon (in that order, by PID) and removes DIR
# RGW_LISTEN=ADDR serves S3 on that address instead of 127.0.0.1 (a host of the multi-host
# test; the mon and the OSD stay on loopback).
# Exit 77 when ceph is not installed (the tests that need it skip with that message).
# Settings that make it start in seconds (measured, see issue 11): auth none inside the
# cluster needs ms_mon_client_mode = crc secure (else radosgw hangs 300 s); a fast paxos;
# bdev_aio_poll_ms for bluestore on a sparse file; 8 PGs a pool so RGW's pools fit one OSD;
# mon_data_avail_crit = 0 so a full test disk does not stop the mon; no mgr.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop_pid() {  # stop_pid FILE: TERM the daemon, wait up to 10 s, then KILL
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

if [[ $cmd == stop ]]; then
  [[ -d $dir ]] || exit 0
  stop_pid "$dir/run/rgw.pid"
  stop_pid "$dir/run/osd.0.pid"
  stop_pid "$dir/run/mon.a.pid"
  rm -rf "$dir"
  exit 0
fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }

for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "rgw_server: $tool is not installed (Debian: apt-get install ceph-mon ceph-osd radosgw)" >&2
    exit 77
  fi
done

mkdir -p "$dir"/{run,log,mon,osd,rgw}
dir=$(cd "$dir" && pwd)
conf=$dir/ceph.conf
fsid=$(cat /proc/sys/kernel/random/uuid)
mon_port=$(free_port)
rgw_port=$(free_port)
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc secure
paxos_propose_interval = 0.05
mon_data_avail_crit = 0
mon_allow_pool_size_one = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
keyring = /dev/null
[mon.a]
mon_data = $dir/mon
[osd.0]
osd_data = $dir/osd
osd_objectstore = bluestore
bluestore_block_size = 4294967296
bdev_aio_poll_ms = 10
osd_memory_target = 536870912
[client.rgw]
rgw_frontends = beast endpoint=${RGW_LISTEN:-127.0.0.1}:$rgw_port
rgw_data = $dir/rgw
pid_file = $dir/run/rgw.pid
CONF

fail() {
  echo "rgw_server: $1 (logs in $dir/log)" >&2
  tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true
  "$0" stop "$dir" >/dev/null 2>&1 || true
  exit 1
}

monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null 2>&1 ||
  fail "monmaptool failed"
ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >>"$dir/log/setup.log" 2>&1 ||
  fail "ceph-mon --mkfs failed"
ceph-mon -c "$conf" -i a >>"$dir/log/setup.log" 2>&1 || fail "ceph-mon did not start"

osd_uuid=$(cat /proc/sys/kernel/random/uuid)
timeout 60 ceph -c "$conf" osd new "$osd_uuid" >>"$dir/log/setup.log" 2>&1 || fail "ceph osd new failed"
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/setup.log" 2>&1 ||
  fail "ceph-osd --mkfs failed"
ceph-osd -c "$conf" -i 0 >>"$dir/log/setup.log" 2>&1 || fail "ceph-osd did not start"
radosgw -c "$conf" -n client.rgw >>"$dir/log/setup.log" 2>&1 || fail "radosgw did not start"

# radosgw creates its pools once the OSD is up; it answers HTTP when ready.
for i in $(seq 600); do
  if curl -s -o /dev/null "http://${RGW_LISTEN:-127.0.0.1}:$rgw_port/"; then break; fi
  [[ $i == 600 ]] && fail "radosgw did not answer on port $rgw_port within 60 s"
  sleep 0.1
done
access=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
timeout 60 radosgw-admin -c "$conf" -n client.rgw user create --uid=streamlet-test \
  --display-name="streamlet test" --access-key="$access" --secret-key="$secret" \
  >>"$dir/log/setup.log" 2>&1 || fail "radosgw-admin user create failed"
cat >"$dir/env" <<ENV
S3_ENDPOINT=http://${RGW_LISTEN:-127.0.0.1}:$rgw_port
S3_REGION=us-east-1
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
ENV
echo "rgw_server: radosgw on http://${RGW_LISTEN:-127.0.0.1}:$rgw_port ($dir)"
