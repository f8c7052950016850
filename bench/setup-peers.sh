#!/usr/bin/env bash
# Baseline peers for the benchmarks, from Debian's packages:
#  * MooseFS for bench/fuse_bench.sh: 1 master and 3 chunkservers on
#    loopback, mounted with goal 2;
#  * Orthanc for ingest_bench --mode=ingest, which starts and stops its own
#    Orthanc process (private config, storage and port in a temp folder),
#    so nothing here runs it.
#
#   bench/setup-peers.sh install        apt-get install every peer
#   bench/setup-peers.sh install-moosefs | install-orthanc   one of them
#   bench/setup-peers.sh start ROOT     start master + 3 chunkservers, mount ROOT/mnt
#   bench/setup-peers.sh stop ROOT      unmount and stop everything under ROOT
set -euo pipefail

cmd=${1:-}
root=${2:-}
MASTER_PORT=19420   # chunkservers -> master
CLIENT_PORT=19421   # clients -> master
# MooseFS chunkservers refuse a loopback master address ("use ip address of
# network controller"), so the peers run inside a network namespace of our
# own (medfs-peers) whose loopback interface also carries a documentation
# address (TEST-NET-1). Only the network namespace is entered (nsenter
# --net), so the MooseFS FUSE mount is visible to the benchmark as usual;
# nothing is added to the host's interfaces and `stop` deletes the namespace.
PEER_IP=192.0.2.77
NETNS=medfs-peers
in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }

install_packages() {
  if command -v mfsmaster >/dev/null && command -v mfschunkserver >/dev/null &&
     command -v mfsmount >/dev/null; then
    return 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    moosefs-master moosefs-chunkserver moosefs-client >/dev/null
}

# Orthanc (REST upload peer of the ingest benchmark). Debian's package
# would start a system-wide Orthanc service; the benchmark needs only the
# binary, so a service started by the install is stopped again.
install_orthanc() {
  if command -v Orthanc >/dev/null; then
    return 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc >/dev/null
  service orthanc stop >/dev/null 2>&1 || true
}

start() {
  install_packages
  ip netns list | grep -qw "$NETNS" || ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" addr show dev lo | grep -q "$PEER_IP/32" ||
    ip -n "$NETNS" addr add "$PEER_IP/32" dev lo
  mkdir -p "$root"/master "$root"/mnt
  local user=mfs
  id -u mfs >/dev/null 2>&1 || user=root
  cat > "$root/master/mfsexports.cfg" <<CFG
* / rw,alldirs,maproot=0
CFG
  cat > "$root/master/mfsmaster.cfg" <<CFG
WORKING_USER = $user
WORKING_GROUP = $user
DATA_PATH = $root/master
EXPORTS_FILENAME = $root/master/mfsexports.cfg
MATOML_LISTEN_HOST = $PEER_IP
MATOML_LISTEN_PORT = 19419
MATOCS_LISTEN_HOST = $PEER_IP
MATOCS_LISTEN_PORT = $MASTER_PORT
MATOCL_LISTEN_HOST = $PEER_IP
MATOCL_LISTEN_PORT = $CLIENT_PORT
CFG
  if [[ ! -f $root/master/metadata.mfs ]]; then
    local empty
    empty=$(ls /var/lib/mfs/metadata.mfs.empty /usr/share/doc/moosefs-master/metadata.mfs.empty 2>/dev/null | head -1 || true)
    if [[ -n $empty ]]; then cp "$empty" "$root/master/metadata.mfs"; fi
  fi
  chown -R "$user:" "$root/master"
  in_ns mfsmaster -c "$root/master/mfsmaster.cfg" start
  for i in 0 1 2; do
    local cs=$root/cs$i
    mkdir -p "$cs/data"
    echo "$cs/data" > "$cs/mfshdd.cfg"
    cat > "$cs/mfschunkserver.cfg" <<CFG
WORKING_USER = $user
WORKING_GROUP = $user
DATA_PATH = $cs
HDD_CONF_FILENAME = $cs/mfshdd.cfg
MASTER_HOST = $PEER_IP
MASTER_PORT = $MASTER_PORT
CSSERV_LISTEN_HOST = $PEER_IP
CSSERV_LISTEN_PORT = $((19430 + i))
CFG
    chown -R "$user:" "$cs"
    in_ns mfschunkserver -c "$cs/mfschunkserver.cfg" start
  done
  in_ns mfsmount "$root/mnt" -H $PEER_IP -P $CLIENT_PORT -o mfscachemode=AUTO >/dev/null
  in_ns mfssetgoal -r 2 "$root/mnt" >/dev/null 2>&1 || in_ns mfssetsclass -r 2 "$root/mnt" >/dev/null 2>&1 || true
  # Wait until the three chunkservers are connected (writes need two).
  for _ in $(seq 1 100); do
    local n
    n=$(in_ns mfscli -H $PEER_IP -P $CLIENT_PORT -SCS -s , 2>/dev/null | grep -c "$PEER_IP" || true)
    [[ $n -ge 3 ]] && break
    sleep 0.2
  done
}

stop() {
  fusermount3 -u "$root/mnt" 2>/dev/null || umount -l "$root/mnt" 2>/dev/null || true
  for i in 0 1 2; do
    [[ -f $root/cs$i/mfschunkserver.cfg ]] && in_ns mfschunkserver -c "$root/cs$i/mfschunkserver.cfg" stop >/dev/null 2>&1 || true
  done
  [[ -f $root/master/mfsmaster.cfg ]] && in_ns mfsmaster -c "$root/master/mfsmaster.cfg" stop >/dev/null 2>&1 || true
  ip netns del "$NETNS" 2>/dev/null || true
}

case $cmd in
  install) install_packages; install_orthanc ;;
  install-moosefs) install_packages ;;
  install-orthanc) install_orthanc ;;
  start) [[ -n $root ]] || { echo "usage: $0 start ROOT" >&2; exit 2; }; start ;;
  stop) [[ -n $root ]] || { echo "usage: $0 stop ROOT" >&2; exit 2; }; stop ;;
  *) echo "usage: $0 install | install-moosefs | install-orthanc | start ROOT | stop ROOT" >&2; exit 2 ;;
esac
