#!/usr/bin/env bash
# The main job, end to end on one machine: installs dependencies, builds
# medfs, starts a local cluster (meta + 3 chunkservers on loopback), stores
# a sample dataset and reads it back.
#
# Leaves the cluster running; stop it with `deploy/local-cluster.sh stop`.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
deploy/install-deps.sh
deploy/build.sh
export MEDFS_LOCAL="${MEDFS_LOCAL:-$top/.medfs-local}"
deploy/local-cluster.sh start 3
medfs="$top/build/bin/medfs --meta=127.0.0.1:${MEDFS_META_PORT:-9400}"

sample="$MEDFS_LOCAL/sample"
mkdir -p "$sample"
# A sample of DICOM files: the test files that Debian's python3-pydicom ships.
pydicom_files=$(/usr/bin/python3 -c 'import pydicom, os; print(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files"))')
cp -r "$pydicom_files"/. "$sample/"
echo "== put $(du -sh "$sample" | cut -f1) of sample files into /sample"
$medfs rm -r /sample 2>/dev/null || true
$medfs put -r "$sample" /sample
$medfs ls -l /sample | head -20
echo "== get them back and compare"
rm -rf "$MEDFS_LOCAL/sample-back"
$medfs get -r /sample "$MEDFS_LOCAL/sample-back"
diff -r "$sample" "$MEDFS_LOCAL/sample-back" && echo "byte-identical round trip"
$medfs status
