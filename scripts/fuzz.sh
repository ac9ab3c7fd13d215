#!/usr/bin/env bash
# Fuzzes each target below for FUZZTIME (default 5s): what comes from outside the service
# (HTTP bodies, paths, queries, Accept headers, events from NATS). `make test` runs their seed
# corpora; this looks a little further on each CI run. A failure leaves its input in the
# package's testdata/fuzz/<Target>/, which makes it a seed for good once committed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
targets=(
  "services/api FuzzDecodeNumberBody"
  "services/api FuzzPathNumber"
  "services/api FuzzParseFactorialQuery"
  "services/api FuzzNegotiate"
  "services/api FuzzParseListQuery"
  "events FuzzDecode"
)
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "=== fuzz $dir $name ($FUZZTIME)"
  (cd "$dir" && "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" .)
done
