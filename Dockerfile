# One image per program, each a target of this file; the build context is the repository root:
#
#   docker build --target api        -t factorial-api .
#   docker build --target calculator -t factorial-calculator .
#   docker build --target migrate    -t factorial-migrate .
#   docker build --target standalone -t factorial-standalone .
#
# Each program is built in its own module with GOWORK=off (the modules' replace directives
# point at their siblings), so the test-only modules and their dependencies stay out. The
# final images are FROM scratch: the static binary, CA certificates, a numeric non-root user,
# nothing else (no shell: health checks run `/app healthcheck`). Checked by deploy/ (make test).

FROM golang:1.26.8 AS deps
WORKDIR /src
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath
# The go.mod and go.sum of each module the programs are built from, before the sources, so
# the download layer is cached until a dependency changes.
COPY api-spec/go.mod api-spec/
COPY events/go.mod events/go.sum events/
COPY platform/go.mod platform/go.sum platform/
COPY migrations/go.mod migrations/go.sum migrations/
COPY services/api/go.mod services/api/go.sum services/api/
COPY services/calculator/go.mod services/calculator/go.sum services/calculator/
COPY services/standalone/go.mod services/standalone/go.sum services/standalone/
RUN for m in migrations services/api services/calculator services/standalone; do \
      (cd "$m" && go mod download) || exit 1; \
    done
COPY . .

FROM deps AS build-api
RUN cd services/api && go build -ldflags='-s -w' -o /out/app ./cmd/api

FROM deps AS build-calculator
RUN cd services/calculator && go build -ldflags='-s -w' -o /out/app ./cmd/calculator

FROM deps AS build-migrate
RUN cd migrations && go build -ldflags='-s -w' -o /out/app ./cmd/migrate

FROM deps AS build-standalone
RUN cd services/standalone && go build -ldflags='-s -w' -o /out/app ./cmd/standalone \
    && mkdir -p /out/data && chown 65532:65532 /out/data

# What every image holds besides its program.
FROM scratch AS runtime
COPY --from=deps /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/app"]

FROM runtime AS migrate
COPY --from=build-migrate /out/app /app
CMD ["up"]

FROM runtime AS calculator
COPY --from=build-calculator /out/app /app
ENV HTTP_ADDR=:8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s CMD ["/app", "healthcheck"]

FROM runtime AS standalone
COPY --from=build-standalone /out/app /app
COPY --from=build-standalone /out/data /data
ENV HTTP_ADDR=:8080 DATA_DIR=/data EMBEDDED_NATS_ADDR=off
EXPOSE 8080
VOLUME /data
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s CMD ["/app", "healthcheck"]

# The API last: a build without --target gives it.
FROM runtime AS api
COPY --from=build-api /out/app /app
ENV HTTP_ADDR=:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s CMD ["/app", "healthcheck"]
