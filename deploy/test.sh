#!/usr/bin/env bash
# The full test suite: installs dependencies (Debian 12, apt-get), builds
# everything and runs every test through CTest, including the integration
# tests that start real medfs-meta / medfs-chunkserver processes on
# loopback and a real FUSE mount (needs root and /dev/fuse).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
cd build
# Integration tests start several processes each; run two tests at a time.
ctest --output-on-failure --timeout 1200 -j 2 "$@"
