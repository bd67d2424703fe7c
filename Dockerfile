# readygate image: a static musl binary in an empty (FROM scratch) image, with
# CA certificates for HTTPS and database TLS, running as a non-root user.
#   docker buildx build --platform linux/amd64,linux/arm64 -t readygate .
# The compiled stage runs on the build platform and cross-compiles for the
# target arch (TARGETARCH) with scripts/build-static, the script CI tests, so
# an arm64 image needs no emulation. Its dependency layer (the manifests with
# stub sources) survives edits under src/. tests/dockerfile_stage.py runs
# this stage's steps here (no base image is reachable) for arm64.
# To package a binary built on the host instead (no Rust in the build),
# scripts/build-image stages readygate and ca-certificates.crt in a context
# of their own and builds with --build-arg BINARY=prebuilt. Either way the
# final stage below, with the image's labels, is the only one.
ARG BINARY=compiled

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS compiled
ARG TARGETARCH
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      file musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/build-static scripts/
COPY Cargo.toml Cargo.lock ./
COPY xtask/Cargo.toml xtask/
RUN mkdir -p src xtask/src \
 && echo 'fn main() {}' > src/main.rs && : > src/lib.rs && echo 'fn main() {}' > xtask/src/main.rs \
 && scripts/build-static "$TARGETARCH" >/dev/null
COPY src src
# COPY keeps the context's modification times, older than the stubs': touch
# them so cargo rebuilds the crate (and only the crate).
RUN find src -name '*.rs' -exec touch {} + \
 && bin=$(scripts/build-static "$TARGETARCH") \
 && mkdir out \
 && cp "$bin" /etc/ssl/certs/ca-certificates.crt out/

FROM scratch AS prebuilt
COPY readygate ca-certificates.crt /src/out/

FROM ${BINARY} AS binary

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="readygate" \
      org.opencontainers.image.description="Wait until dependencies are really ready (PostgreSQL migrated, HTTP health, Redis, ClickHouse), then exit, exec or serve /readyz" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /src/out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /src/out/readygate /readygate
USER 65532:65532
ENTRYPOINT ["/readygate"]
