# snapkeep container image: the dist-profile Rust binary on distroless (CA
# certificates included, non-root, no shell), logging JSON. Build:
#   docker build -t snapkeep .
# Run (config mounted as a file, token from env or a secret file):
#   docker run -d --name snapkeep \
#     -v /etc/snapkeep/config.toml:/etc/snapkeep/config.toml:ro \
#     -e VPS_API_TOKEN=... snapkeep
# CI has no Docker engine: `.ci/check-image-context` rebuilds this build
# context (honouring .dockerignore) and runs the RUN steps below in it.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The whole context minus .dockerignore: robust to the crate's layout.
COPY . .
RUN cargo build --profile dist --locked --bin snapkeep

FROM gcr.io/distroless/cc-debian12:nonroot
# Title, description, version and licenses must match Cargo.toml (checked by
# .ci/check-image-context).
LABEL org.opencontainers.image.title="snapkeep" \
      org.opencontainers.image.description="Keeps rolling sets of VPS.org server snapshots and manual backups" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://github.com/snapkeep/snapkeep"
COPY --from=build /src/target/dist/snapkeep /usr/local/bin/snapkeep
COPY config.example.toml /usr/share/snapkeep/config.example.toml
ENV SNAPKEEP_CONFIG=/etc/snapkeep/config.toml \
    SNAPKEEP_LOG_FORMAT=json
USER nonroot:nonroot
# snapkeep handles SIGTERM/SIGINT/SIGHUP itself, so it is safe as PID 1.
ENTRYPOINT ["/usr/local/bin/snapkeep"]
