// Package integration runs the distributed profile of the factorial service the way it is
// deployed: bin/api and two bin/calculator processes, built from this workspace by the test
// itself, against this machine's PostgreSQL, Redis and NATS (TEST_POSTGRES_URL,
// TEST_REDIS_URL, TEST_NATS_URL; see platform/testenv) and an S3-compatible store: Versity
// S3 Gateway (bin/versitygw, built by `make tools` at the version the compose stack runs),
// started by the test on its posix backend in a temporary directory. It holds tests only;
// this file is here so the package has a doc and builds.
//
// What it checks: a few hundred distinct numbers come back right (digits and SHA-256 against
// math/big and, where the file is there, ../shared/reference/factorial-vectors.tsv), each is
// computed exactly once and the work is shared by both calculators, PostgreSQL holds a done
// row with its checksum for each, the bucket holds its object, Redis is filled by the
// factorial.computed event and kept true by later events, and every process stops cleanly on
// SIGTERM. Also: a missing setting stops each binary with one line naming it, bin/migrate up
// and status work on a fresh database, and the services refuse an unmigrated one.
//
// # Faults
//
// Each with processes of its own (bin/nats-server, built by `make tools`):
//
//   - TestTakeoverAfterKill: a calculator killed with SIGKILL while it computes 10^7! is taken
//     over by the other within 15 s with the default timings.
//   - TestClusterLosesANode: a three-node JetStream cluster, NATS_STREAM_REPLICAS=3, the
//     stream's leader killed while 300 requests are POSTed (p99 within 1 s, all done within
//     60 s, each computed once; an api and a calculator started meanwhile come up), then a
//     calculator's node killed and restarted (the stall of issue 7.10: a pull request the
//     node forgot, which the first version noticed only after 30 s or more; the fetches now
//     carry an idle heartbeat and expire after 5 s).
//
// # Isolation
//
// PostgreSQL: a database of its own per run, with a random name, dropped at the end
// (migrations/dbtest). Redis: a key prefix of its own (CACHE_PREFIX), deleted at the end.
// S3: a server process and a bucket of its own.
//
// NATS is the hard part. The binaries hard-code the stream FACTORIAL and the durable
// consumer "calculator", so every user of one server shares both, and a stream left by an
// earlier run (undelivered requests, a consumer positioned somewhere, message ids still in
// the duplicate window) changes what a new run sees. A private nats-server would sidestep
// that, but the point of this suite is the machine's NATS. Telling a leftover from a stream
// in live use is not possible from a client on NATS 2.9: without the system account there is
// no connection list, and a consumer's waiting pull requests outlive the process that made
// them (seen here: still counted minutes after a calculator was killed). So the suite owns
// the FACTORIAL stream of TEST_NATS_URL while it runs, as a CI job owns its test server:
//
//   - At start it deletes any FACTORIAL stream there, logging what it held; the calculators
//     then provision a fresh one. At the end, once its processes have stopped, it deletes it
//     again, leaving the server as it found it or emptier.
//   - Runs of this suite on one machine take a file lock in the temporary directory (Linux),
//     so two checkouts testing at once run one after the other instead of sharing a stream.
//   - Its child processes die with the test binary (Pdeathsig on Linux), so a run killed by
//     its timeout leaves no calculator behind to hold the consumer.
//
// Do not point TEST_NATS_URL at a server where a factorial service runs for real. Nothing
// else in this workspace's tests uses the FACTORIAL stream on TEST_NATS_URL: the other
// suites run embedded servers or streams of their own names.
package integration
