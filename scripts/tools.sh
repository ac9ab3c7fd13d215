#!/usr/bin/env bash
# Builds the servers the tests run as real processes into bin/, each from the Go module proxy
# at the version pinned in the Makefile (TOOLS: package@version, one per word). A binary
# already built from that package at that version is kept; any other is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p bin
for spec in $TOOLS; do
  pkg=${spec%@*}
  name=$(basename "$pkg")
  # go install names a binary after its package, skipping a major-version suffix (/v2).
  if [[ $name =~ ^v[0-9]+$ ]]; then name=$(basename "$(dirname "$pkg")"); fi
  have=$("$GO" version -m "bin/$name" 2>/dev/null | awk '$1=="path"{p=$2} $1=="mod"{v=$3} END{print p "@" v}' || true)
  if [ "$have" = "$spec" ]; then
    echo "bin/$name: $spec (up to date)"
    continue
  fi
  echo "bin/$name: building $spec"
  start=$(date +%s)
  GOBIN="$PWD/bin" GOWORK=off CGO_ENABLED=0 "$GO" install "$spec"
  echo "bin/$name: built in $(( $(date +%s) - start ))s"
done
