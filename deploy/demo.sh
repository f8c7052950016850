#!/usr/bin/env bash
# The main job, end to end on one machine (Debian 12, root):
#   1. install dependencies (apt-get) and build medfs;
#   2. start a local cluster: medfs-meta + 3 chunkservers on loopback;
#   3. make a sample DICOM dataset (a CT series generated from the test
#      files Debian's python3-pydicom ships, plus those files themselves)
#      and ingest it with `medfs ingest` into the dataset "sample";
#   4. query it by DICOM tags;
#   5. mount the cluster with medfs-mount and read files through the mount
#      (ls, dcmdump, pydicom);
#   6. train a tiny ViT for a few CPU steps from medfs.DataLoader, which
#      reads pixel bytes straight from the chunkservers.
#
# Leaves the cluster running and mounted; stop with:
#   fusermount3 -u "$MEDFS_LOCAL/mnt"; deploy/local-cluster.sh stop
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
deploy/install-deps.sh
deploy/build.sh
export MEDFS_LOCAL="${MEDFS_LOCAL:-$top/.medfs-local}"
meta="127.0.0.1:${MEDFS_META_PORT:-9400}"
bin="$top/build/bin"
medfs="$bin/medfs --meta=$meta"
deploy/local-cluster.sh start 3

echo "== making a sample dataset"
sample="$MEDFS_LOCAL/sample-dicom"
rm -rf "$sample"
/usr/bin/python3 "$top/deploy/make_sample_dicom.py" "$sample" --slices 64

echo "== medfs ingest"
set +e
$medfs ingest "$sample" --dataset=sample --jobs=2 --report="$MEDFS_LOCAL/ingest-report.json"
ingest_status=$?
set -e
# Exit status 1 means some files were skipped (e.g. non-DICOM files in the
# pydicom test folder); the report lists each with its reason.
[ $ingest_status -le 1 ] || exit $ingest_status
$medfs datasets
$medfs info sample
echo "== medfs query: the generated CT series"
$medfs query sample 'Modality = CT and SliceThickness <= 3' --level=series
echo "== medfs manifest: the CT instances frozen as a named, versioned sample set"
$medfs manifest freeze ct-train sample 'Modality = CT'
$medfs manifest list sample

echo "== medfs-mount"
mnt="$MEDFS_LOCAL/mnt"
mkdir -p "$mnt"
mountpoint -q "$mnt" && fusermount3 -u "$mnt"
"$bin/medfs-mount" --meta="$meta" --log_file="$MEDFS_LOCAL/logs/mount.log" "$mnt"
for _ in $(seq 1 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
# (no `cmd | head` here: with pipefail a writer cut off by head fails the script)
ls "$mnt"/sample
first=$(find "$mnt/sample" -name '*.dcm' -print -quit)
echo "dcmdump of $first:"
dcmdump "$first" > "$MEDFS_LOCAL/first.dump"
grep -m 5 -E "Modality|Rows|Columns|SOPInstanceUID" "$MEDFS_LOCAL/first.dump"
/usr/bin/python3 -c "import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); print('pydicom through the mount:', d.Modality, d.pixel_array.shape)" "$first"

echo "== training a tiny ViT from medfs.DataLoader"
PYTHONPATH="$top/build/python" /usr/bin/python3 examples/train_vit.py \
  --meta "$meta" --dataset sample --query "Modality = CT" --steps 10 --batch-size 8
echo "== done: cluster running (deploy/local-cluster.sh status), mounted at $mnt"
