# snapkeep container image: static-ish Rust binary on distroless (CA
# certificates included, non-root, no shell). Build:
#   docker build -t snapkeep .
# Run (config mounted as a file, token from env or a secret file):
#   docker run -d --name snapkeep \
#     -v /etc/snapkeep/config.toml:/etc/snapkeep/config.toml:ro \
#     -e VPS_API_TOKEN=... snapkeep
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
COPY config.example.toml ./
RUN cargo build --release --locked --bin snapkeep

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/snapkeep /usr/local/bin/snapkeep
COPY config.example.toml /usr/share/snapkeep/config.example.toml
ENV SNAPKEEP_CONFIG=/etc/snapkeep/config.toml \
    SNAPKEEP_LOG_FORMAT=json
USER nonroot:nonroot
# snapkeep handles SIGTERM/SIGINT/SIGHUP itself, so it is safe as PID 1.
ENTRYPOINT ["/usr/local/bin/snapkeep"]
