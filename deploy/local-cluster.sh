#!/usr/bin/env bash
# A local medfs cluster on this machine: one medfs-meta and N chunkservers
# on loopback, each with a folder under $MEDFS_LOCAL (default ./.medfs-local).
#
#   deploy/local-cluster.sh start [N]   start meta + N chunkservers (default 3)
#   deploy/local-cluster.sh status      print cluster status
#   deploy/local-cluster.sh stop        stop everything (data is kept)
#   deploy/local-cluster.sh wipe        stop and delete the data
#
# Environment: MEDFS_LOCAL (folder), MEDFS_META_PORT (9400),
# MEDFS_PROVIDER (tcp;ofi_rxm; shm crashes chunkservers once a client has
# exited, see common/fabric/README.md), MEDFS_REPLICATION (2), MEDFS_BIN (build/bin).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
local_dir="${MEDFS_LOCAL:-$top/.medfs-local}"
bin="${MEDFS_BIN:-$top/build/bin}"
port="${MEDFS_META_PORT:-9400}"
provider="${MEDFS_PROVIDER:-tcp;ofi_rxm}"
replication="${MEDFS_REPLICATION:-2}"
meta="127.0.0.1:$port"

start_one() {  # name, then the command line
  local name=$1; shift
  local pidfile="$local_dir/run/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  nohup "$@" >>"$local_dir/logs/$name.log" 2>&1 &
  echo $! >"$pidfile"
  echo "started $name (pid $!, log $local_dir/logs/$name.log)"
}

wait_for_servers() {  # count
  for _ in $(seq 1 300); do
    up=$("$bin/medfs" --meta="$meta" status 2>/dev/null |
         sed -n 's/^total: [0-9]* servers (\([0-9]*\) up).*/\1/p')
    up=${up:-0}
    [ "$up" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "chunkservers did not come up; logs in $local_dir/logs" >&2
  return 1
}

case "${1:-}" in
  start)
    n="${2:-3}"
    mkdir -p "$local_dir"/{run,logs,meta}
    start_one meta "$bin/medfs-meta" --listen="$meta" --db="$local_dir/meta" \
      --default_replication="$replication"
    for i in $(seq 0 $((n - 1))); do
      mkdir -p "$local_dir/cs$i"
      start_one "cs$i" "$bin/medfs-chunkserver" --meta="$meta" \
        --data_dirs="$local_dir/cs$i" --fabric_provider="$provider" \
        --listen_host=127.0.0.1 --listen_port=$((port + 10 + i)) \
        --failure_domain="local$i" --metrics_port=$((port + 20 + i))
    done
    wait_for_servers "$n"
    "$bin/medfs" --meta="$meta" status
    ;;
  status)
    "$bin/medfs" --meta="$meta" status
    ;;
  stop|wipe)
    for pidfile in "$local_dir"/run/*.pid; do
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
    done
    [ "$1" = wipe ] && rm -rf "$local_dir" && echo "removed $local_dir"
    ;;
  *)
    sed -n '2,12p' "$0"; exit 2 ;;
esac
