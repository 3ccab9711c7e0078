# syntax=docker/dockerfile:1
# slipstream: build the release binary, ship it on a slim Debian.
#
#   docker build -t slipstream .
#   docker run --rm -v "$PWD/config:/etc/slipstream:ro" slipstream \
#     replay --config /etc/slipstream/example.yaml \
#     --input /etc/slipstream/example-events.ndjson --format table
#
# Or the whole pipeline (Kafka, slipstream run, gen, Prometheus): docker compose up
# --build (see docker-compose.yml and docs/run.md).

FROM rust:1-bookworm AS build
# rdkafka-sys builds librdkafka from source with its own ./configure (bash) and make,
# with a C compiler; no cmake. libz-sys links the system zlib (found with pkg-config).
# openssl-src compiles OpenSSL (TLS, SCRAM) with perl and make. rust:1-bookworm already
# has all of these; they are listed so that the build does not depend on that.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential perl pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build needs: the manifest names the bench target, so benches/ must be
# present for cargo to read it, and `demo` embeds config/demo.yaml. target/ on the host
# is never copied.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY config/demo.yaml ./config/demo.yaml
# The caches keep downloaded crates and compiled dependencies between builds; the
# binary is copied out because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin slipstream \
    && cp target/release/slipstream /usr/local/bin/slipstream

FROM debian:bookworm-slim
# librdkafka and OpenSSL are linked in statically; at run time the binary needs only
# libc, libgcc_s and libz.so.1 (zlib1g, part of the base image, installed here to say
# so). ca-certificates: the system's CA store, for `ssl.ca.location: probe` with a
# broker whose certificate is publicly trusted (docs/run.md#kafka-over-tls-and-sasl).
RUN apt-get update \
    && apt-get install -y --no-install-recommends zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/slipstream /usr/local/bin/slipstream
RUN useradd --system --uid 10001 --no-create-home slipstream
USER slipstream
WORKDIR /etc/slipstream
# `slipstream run`: /metrics, /api/v1/slos, /healthz, /readyz (set http.listen to
# 0.0.0.0:9898 in the config to reach it from outside the container).
EXPOSE 9898
# Exec form: slipstream is PID 1 and gets SIGTERM itself, then drains and commits
# within 15 s (docs/run.md#shutdown); give `docker stop` a longer timeout than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["slipstream"]
CMD ["--help"]
