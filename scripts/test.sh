#!/usr/bin/env bash
# Runs `go test ./...` in every module of the workspace (a workspace root that is not a module
# cannot run ./... itself), then says which server-backed suites were skipped and why.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
failed=()
for m in $MODULES; do
  echo "=== $m"
  # -timeout: go test's default of 10 minutes a package is too short for integration's real
  # processes on a loaded two-core machine (each test bounds its own waits).
  if ! (cd "$m" && "$GO" test -count=1 -timeout 30m ${TEST_FLAGS:-} ./...); then
    failed+=("$m")
  fi
done

echo
skipped=()
[ -z "${TEST_POSTGRES_URL:-}" ] && skipped+=("PostgreSQL suites (set TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
[ -z "${TEST_REDIS_URL:-}" ] && skipped+=("Redis suites (set TEST_REDIS_URL=redis://127.0.0.1:6379/0)")
[ -z "${TEST_NATS_URL:-}" ] && skipped+=("external NATS suites (set TEST_NATS_URL=nats://127.0.0.1:4222)")
[ ! -x "${TEST_TOOLS_DIR:-bin}/versitygw" ] && skipped+=("S3 server suites (run make tools to build bin/versitygw)")
if [ ${#skipped[@]} -gt 0 ]; then
  echo "Skipped, no server configured:"
  printf '  - %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED modules: ${failed[*]}"
  exit 1
fi
echo "All modules passed."
