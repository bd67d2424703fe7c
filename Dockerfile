# readygate image: a static musl binary in an empty (FROM scratch) image, with
# CA certificates for HTTPS and database TLS, running as a non-root user.
#   docker build -t readygate .
# To package a binary built on the host instead (no Rust in the build),
# scripts/build-image stages readygate and ca-certificates.crt in a context
# of their own and builds with --build-arg BINARY=prebuilt. Either way the
# final stage below, with the image's labels, is the only one.
ARG BINARY=compiled

FROM rust:1.95-alpine AS compiled
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
 && mkdir /out \
 && cp target/release/readygate /etc/ssl/certs/ca-certificates.crt /out/

FROM scratch AS prebuilt
COPY readygate ca-certificates.crt /out/

FROM ${BINARY} AS binary

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="readygate" \
      org.opencontainers.image.description="Wait until dependencies are really ready (PostgreSQL migrated, HTTP health, Redis, ClickHouse), then exit, exec or serve /readyz" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/readygate /readygate
USER 65532:65532
ENTRYPOINT ["/readygate"]
