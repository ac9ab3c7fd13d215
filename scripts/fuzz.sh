#!/usr/bin/env bash
# Fuzzes each target below for FUZZTIME (default 10000x: that many inputs; a duration such as
# 5s also works, but with Go 1.26 a duration can end in a spurious "context deadline
# exceeded" failure on a loaded machine, go.dev/issue/75804): what comes from outside the service
# (HTTP bodies, paths, queries, Accept headers, events from NATS). `make test` runs their seed
# corpora; this looks a little further on each CI run. A failure leaves its input in the
# package's testdata/fuzz/<Target>/, which makes it a seed for good once committed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10000x}
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
