#!/usr/bin/env bash
# Every module must build on its own and be tidy on its own (GOWORK=off), as the Dockerfile
# builds each program: a require missing from a module's go.mod works in the workspace and
# breaks only the image. `go mod tidy -diff` changes nothing; it fails and prints the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
failed=()
for m in $MODULES; do
  if ! (cd "$m" && GOWORK=off "$GO" mod tidy -diff && GOWORK=off "$GO" build ./...); then
    failed+=("$m")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "modcheck: not buildable or not tidy with GOWORK=off: ${failed[*]} (run: cd <module> && GOWORK=off go mod tidy)"
  exit 1
fi
echo "modcheck: every module builds and is tidy with GOWORK=off"
