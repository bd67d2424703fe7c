# readygate image: a static musl binary in an empty (FROM scratch) image, with
# CA certificates for HTTPS and database TLS, running as a non-root user.
#   docker build -t readygate .
# To package a binary built on the host instead (no Rust in Docker), see
# packaging/Containerfile.prebuilt and scripts/build-image.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/readygate /readygate

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="readygate" \
      org.opencontainers.image.description="Wait until dependencies are really ready (PostgreSQL migrated, HTTP health, Redis, ClickHouse), then exit, exec or serve /readyz" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /readygate /readygate
USER 65532:65532
ENTRYPOINT ["/readygate"]
