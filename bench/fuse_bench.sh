#!/usr/bin/env bash
# Side-by-side file-system benchmark of medfs-mount, run in one go on one
# machine against:
#   passthrough  a minimal FUSE passthrough of a local folder (the FUSE limit)
#   moosefs      MooseFS from Debian: 1 master, 3 chunkservers, goal 2
# medfs runs as medfs-meta + 3 medfs-chunkservers (replication 2) on loopback.
#
#   bench/fuse_bench.sh [BUILD_DIR]
# Environment: SEQ_MIB (2048), SMALL_FILES (4000), SMALL_KIB (512),
# SMALL_DIRS (40), STAT_FILES (20000), STAT_DIRS (100), PEERS (passthrough,moosefs)
# Caches are dropped (echo 3 > /proc/sys/vm/drop_caches) before every read
# workload; on one machine that empties the servers' page cache too, so the
# small-file reads run twice more as warmsrv_t1/t8 with the servers' stored
# files read into the page cache (as readers on other nodes would leave
# them; medfs chunkservers do not cache what the mount reads, since the
# mount caches it) and only the client's cache dropped (posix_fadvise
# DONTNEED of every file through the mount).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
bin=$build/bin
SEQ_MIB=${SEQ_MIB:-2048}
SMALL_FILES=${SMALL_FILES:-4000}
SMALL_KIB=${SMALL_KIB:-512}
SMALL_DIRS=${SMALL_DIRS:-40}
STAT_FILES=${STAT_FILES:-20000}
STAT_DIRS=${STAT_DIRS:-100}
PEERS=${PEERS:-passthrough,moosefs}
root=$(mktemp -d /var/tmp/medfs-fuse-bench.XXXXXX)
chmod 755 "$root"   # MooseFS daemons run as user mfs
work=$bin/fuse_bench_workload
pids=()
pt_pid=""

cleanup() {
  set +e
  for m in "$root"/medfs/mnt "$root"/pt/mnt; do fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null; done
  [[ -d $root/mfs ]] && "$here/setup-peers.sh" stop "$root/mfs"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$root"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

wait_mounted() {
  for _ in $(seq 1 300); do
    grep -q " $1 " /proc/self/mountinfo && return 0
    sleep 0.1
  done
  echo "no mount at $1" >&2; return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_medfs() {
  mkdir -p "$root"/medfs/{logs,mnt}
  local port; port=$(free_port)
  "$bin/medfs-meta" --listen=127.0.0.1:$port --db="$root/medfs/meta" --default_replication=2 \
    --max_chunk_bytes=$((64 << 20)) > "$root/medfs/logs/meta.log" 2>&1 & pids+=($!)
  for i in 0 1 2; do
    mkdir -p "$root/medfs/cs$i"
    "$bin/medfs-chunkserver" --meta=127.0.0.1:$port --data_dirs="$root/medfs/cs$i" \
      --fabric_provider='tcp;ofi_rxm' --listen_host=127.0.0.1 --listen_port=$(free_port) \
      --failure_domain=fd$i --max_chunk_bytes=$((64 << 20)) > "$root/medfs/logs/cs$i.log" 2>&1 & pids+=($!)
  done
  "$bin/medfs-mount" --meta=127.0.0.1:$port --foreground --allow_other \
    --temp_dir="$root/medfs" "$root/medfs/mnt" > "$root/medfs/logs/mount.log" 2>&1 & pids+=($!)
  medfs_mount_pid=$!
  wait_mounted "$root/medfs/mnt"
  # Wait until the chunkservers have registered: a small write commits
  # (the workload checks close(), where the commit happens).
  for _ in $(seq 1 300); do
    "$work" seqwrite "$root/medfs/mnt/.ready" 1 >/dev/null 2>&1 && break
    sleep 0.2
  done
  rm -f "$root/medfs/mnt/.ready"
}

start_passthrough() {
  mkdir -p "$root"/pt/{backing,mnt}
  "$bin/fuse_bench_passthrough" "$root/pt/backing" "$root/pt/mnt" > "$root/pt.log" 2>&1 & pids+=($!)
  pt_pid=$!
  wait_mounted "$root/pt/mnt"
  # Same kernel readahead as medfs-mount sets for itself.
  local dev; dev=$(awk -v m="$root/pt/mnt" '$5 == m {print $3}' /proc/self/mountinfo)
  echo 8192 > "/sys/class/bdi/$dev/read_ahead_kb" 2>/dev/null || true
}

start_moosefs() { "$here/setup-peers.sh" start "$root/mfs"; }

# The client side's CPU (the FUSE daemon: medfs-mount, mfsmount, the
# passthrough) per file read: on a cluster the servers run elsewhere, and
# this is what a training node pays.
# The files a system's servers store (read into the page cache for warmsrv).
server_files() {
  case $1 in
    medfs) echo "$root/medfs/cs0 $root/medfs/cs1 $root/medfs/cs2" ;;
    passthrough) echo "$root/pt/backing" ;;
    moosefs) echo "$root/mfs/cs0/data $root/mfs/cs1/data $root/mfs/cs2/data" ;;
  esac
}

client_pid() {
  case $1 in
    medfs) echo "$medfs_mount_pid" ;;
    passthrough) echo "$pt_pid" ;;
    moosefs) pgrep -o -f "mfsmount.*$root/mfs/mnt" || true ;;
  esac
}
cpu_ticks() { [[ -n $1 && -r /proc/$1/stat ]] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }

declare -A R
run_suite() {  # NAME MOUNT
  local name=$1 mnt=$2 line pid before key
  mkdir -p "$mnt/bench"
  pid=$(client_pid "$name")
  record() {
    before=$(cpu_ticks "$pid")
    line=$("$@" | grep '^RESULT'); echo "  $name: $line" >&2
    key=$(awk '{print $2}' <<<"$line")
    R[$name,$key]=$(awk '{print $3}' <<<"$line")
    if [[ $key == readfiles_* || $key == warmsrv_* ]]; then
      R[$name,cpu_$key]=$(awk -v t=$(( $(cpu_ticks "$pid") - before )) -v n="$SMALL_FILES" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
    fi
  }
  record "$work" seqwrite "$mnt/bench/big" "$SEQ_MIB"
  drop; record "$work" seqread "$mnt/bench/big"
  rm -f "$mnt/bench/big"
  mkdir -p "$mnt/bench/small"
  record "$work" mkfiles "$mnt/bench/small" "$SMALL_DIRS" "$SMALL_FILES" "$SMALL_KIB"
  drop; record "$work" readfiles "$mnt/bench/small" 1
  drop; record "$work" readfiles "$mnt/bench/small" 8
  # The same with only the client's cache dropped, as on a cluster where the
  # chunkservers are other machines whose page cache holds the dataset.
  # (Files of deleted data may be collected meanwhile: a vanished one is fine.)
  find $(server_files "$name") -type f -exec cat {} + > /dev/null 2>&1 || true
  "$work" evict "$mnt/bench/small" > /dev/null; record "$work" readfiles "$mnt/bench/small" 1 warmsrv
  "$work" evict "$mnt/bench/small" > /dev/null; record "$work" readfiles "$mnt/bench/small" 8 warmsrv
  mkdir -p "$mnt/bench/meta"
  "$work" mkfiles "$mnt/bench/meta" "$STAT_DIRS" "$STAT_FILES" 0 > /dev/null
  sleep 2   # let attribute/entry caches of the writes expire: a cold walk
  drop; record "$work" statall "$mnt/bench/meta"
}

systems=(medfs)
echo "starting medfs" >&2; start_medfs
if [[ $PEERS == *passthrough* ]]; then echo "starting passthrough" >&2; start_passthrough; systems+=(passthrough); fi
if [[ $PEERS == *moosefs* ]]; then
  echo "starting moosefs" >&2
  if start_moosefs; then systems+=(moosefs); else echo "moosefs did not start: skipped in the table" >&2; fi
fi

for s in "${systems[@]}"; do
  case $s in
    medfs) run_suite medfs "$root/medfs/mnt" ;;
    passthrough) run_suite passthrough "$root/pt/mnt" ;;
    moosefs) run_suite moosefs "$root/mfs/mnt" ;;
  esac
done
rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$medfs_mount_pid/status)

ratio() { [[ -n ${R[$2,$1]:-} && -n ${R[medfs,$1]:-} ]] && awk -v a="${R[medfs,$1]}" -v b="${R[$2,$1]}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }' || echo "-"; }
printf '\n%-16s %14s %14s %14s %14s %14s\n' workload medfs passthrough moosefs medfs/pt medfs/mfs
for w in seqwrite seqread mkfiles readfiles_t1 readfiles_t8 warmsrv_t1 warmsrv_t8 statall; do
  unit=$([[ $w == seq* ]] && echo MiB/s || ([[ $w == statall ]] && echo entries/s || echo files/s))
  printf '%-16s %14s %14s %14s %14s %14s   %s\n' "$w" "${R[medfs,$w]:--}" "${R[passthrough,$w]:--}" \
    "${R[moosefs,$w]:--}" "$(ratio $w passthrough)" "$(ratio $w moosefs)" "$unit"
done
echo "client (FUSE daemon) CPU ms per small file read:"
for w in readfiles_t1 readfiles_t8 warmsrv_t1 warmsrv_t8; do
  printf '  %-14s medfs %s  passthrough %s  moosefs %s\n' "$w" "${R[medfs,cpu_$w]:--}" \
    "${R[passthrough,cpu_$w]:--}" "${R[moosefs,cpu_$w]:--}"
done
echo "medfs-mount peak RSS: $((rss_kib / 1024)) MiB"
echo "(seq: ${SEQ_MIB} MiB file; small: ${SMALL_FILES} x ${SMALL_KIB} KiB in ${SMALL_DIRS} folders; statall: ${STAT_FILES} files in ${STAT_DIRS} folders)"
