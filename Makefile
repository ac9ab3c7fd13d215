# The two set-up commands are `make run` (the whole service, nothing installed) and
# `make test` (every test of every module). See README.md.

MODULES := events events/examples/subscriber platform migrations services/api services/calculator services/standalone api-spec integration deploy
BINARIES := api calculator migrate standalone
GO ?= go
# Servers the tests run as real processes (`make tools` builds them into bin/ from the Go
# module proxy): one package@version per word, pinned.
TOOLS := github.com/versity/versitygw/cmd/versitygw@v1.8.0 github.com/nats-io/nats-server/v2@v2.15.2

.PHONY: all build tools run test test-race vet lint modcheck bench bench-compute bench-load bench-http fuzz tidy clean $(addprefix bin/,$(BINARIES))

all: build

build: $(addprefix bin/,$(BINARIES))

bin/api:
	$(GO) build -o $@ ./services/api/cmd/api
bin/calculator:
	$(GO) build -o $@ ./services/calculator/cmd/calculator
bin/migrate:
	$(GO) build -o $@ ./migrations/cmd/migrate
bin/standalone:
	$(GO) build -o $@ ./services/standalone/cmd/standalone

tools:
	@TOOLS="$(TOOLS)" GO="$(GO)" bash scripts/tools.sh

# The embedded profile: NATS, SQLite, local disk and cache in one process, data under DATA_DIR.
# It says what it does while it builds: the first build downloads and compiles every module
# (minutes on a small machine), and a silent terminal looks like a hang.
run:
	@echo "make run: building bin/standalone (the first time Go downloads and compiles the modules: a few minutes)"
	@( while sleep 20; do echo "make run: still building…"; done ) & ticker=$$!; \
	  $(GO) build -o bin/standalone ./services/standalone/cmd/standalone; status=$$?; \
	  kill $$ticker 2>/dev/null; exit $$status
	@echo "make run: starting bin/standalone (HTTP $${HTTP_ADDR:-:8080}, data in $${DATA_DIR:-./data}); Ctrl-C stops it"
	./bin/standalone

# Every module's tests. Suites that need PostgreSQL, Redis or an external NATS run when
# TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_NATS_URL are set, and are skipped (and listed
# at the end) when not; TEST_REQUIRE_SERVERS=1 turns such a skip into a failure.
test:
	@MODULES="$(MODULES)" GO="$(GO)" bash scripts/test.sh

# A few seconds of fuzzing of every input from outside (scripts/fuzz.sh lists the targets).
fuzz:
	@GO="$(GO)" bash scripts/fuzz.sh

test-race:
	@MODULES="$(MODULES)" GO="$(GO)" GOFLAGS="$(GOFLAGS) -race" bash scripts/test.sh

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

# staticcheck, pinned and fetched from the Go module proxy on first use, on every module:
# likely bugs, deprecated APIs, dead code. A finding kept on purpose says why in a
# //lint:ignore beside it.
lint:
	@for m in $(MODULES); do (cd $$m && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...) || exit 1; done

# Each module builds and is tidy on its own (GOWORK=off), as the Dockerfile builds it.
modcheck:
	@MODULES="$(MODULES)" GO="$(GO)" bash scripts/modcheck.sh

# Go benchmarks of the factorial engine and of the service, then the table against GMP.
bench:
	cd services/calculator && $(GO) test -run '^$$' -bench . -benchmem ./factorial/
	cd services/standalone && $(GO) test -run '^$$' -bench . -benchmem .
	$(MAKE) bench-compute

# The engine against GMP, interleaved rounds (a few minutes); flags in BENCH_COMPUTE_ARGS, e.g.
# BENCH_COMPUTE_ARGS="-n 50000000,100000000 -sums= -grid=false" for the largest n.
# The service under a crowd on loopback (integration/cmd/bench-load): the embedded profile, and
# the distributed one when TEST_POSTGRES_URL, TEST_REDIS_URL and bin/nats-server are there.
bench-load:
	cd integration && $(GO) run ./cmd/bench-load

bench-compute:
	cd services/calculator && $(GO) run ./cmd/bench-compute $(BENCH_COMPUTE_ARGS)

# The API's reads beside the framework's limit: allocations per cached GET (-benchmem), then
# the standalone service and a bare echo server loaded side by side on loopback (about 5 min).
bench-http: bin/standalone
	cd services/api && $(GO) test -run '^$$' -bench 'BenchmarkCachedGet|BenchmarkText' -benchmem .
	cd services/api && $(GO) run ./cmd/bench-http -standalone ../../bin/standalone

tidy:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

clean:
	rm -rf bin
