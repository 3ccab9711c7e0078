# syntax=docker/dockerfile:1
# slipstream: build the release binary, ship it on a slim Debian.
#
#   docker build -t slipstream .
#   docker run --rm -v "$PWD/config:/etc/slipstream:ro" slipstream \
#     replay --config /etc/slipstream/example.yaml \
#     --input /etc/slipstream/example-events.ndjson --format table
#
# Or: docker compose run --rm slipstream (see docker-compose.yml).

FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build needs: the manifest names the bench target, so benches/ must be
# present for cargo to read it. target/ on the host is never copied.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# The caches keep downloaded crates and compiled dependencies between builds; the
# binary is copied out because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin slipstream \
    && cp target/release/slipstream /usr/local/bin/slipstream

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/slipstream /usr/local/bin/slipstream
RUN useradd --system --uid 10001 --no-create-home slipstream
USER slipstream
WORKDIR /etc/slipstream
ENTRYPOINT ["slipstream"]
CMD ["--help"]
