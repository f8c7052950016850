#!/usr/bin/env bash
# Installs everything medfs needs to build, test and run on Debian 12.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libabsl-dev libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev
  libfabric-dev libfabric-bin
  libfuse3-dev fuse3
  libisal-dev
  libdcmtk-dev dcmtk
  libarchive-dev libopenjp2-7-dev
  pybind11-dev python3-dev python3-torch python3-pydicom python3-numpy
  python3-gdcm  # pydicom's JPEG-LS/JPEG 2000 handler: reference decoder of tests and bench only
  procps psmisc util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
