# syntax=docker/dockerfile:1
# Multi-stage build of the controller image.
#
# Runtime choice: glibc on distroless `cc` (not a static musl binary). The controller is a multi-threaded tokio
# program doing TLS (rustls + ring) to ONTAP, Proxmox VE and the Kubernetes API; musl's allocator is markedly
# slower under that load, and distroless/cc is still minimal: glibc, libgcc, CA certificates and tzdata, no shell
# and no package manager. Its `nonroot` variant runs as UID/GID 65532, which the Helm chart's
# podSecurityContext also sets (runAsNonRoot, read-only root file system, all capabilities dropped).
# Builder and runtime are both Debian 12 (bookworm), so the glibc the binary links against is the one it runs on.

ARG RUST_VERSION=1.89
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# The whole workspace is needed to resolve Cargo.lock (sim/ and testkit/ are members); .dockerignore keeps
# target/ and local state out of the context.
COPY . .
# BuildKit cache mounts keep the registry and target dir between builds; the binary is copied out of the mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pve-ontap-controller --bin pve-ontap-controller \
    && install -D -m 0755 target/release/pve-ontap-controller /out/pve-ontap-controller

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="pve-ontap-controller" \
      org.opencontainers.image.description="Kubernetes controller for ONTAP FileClone, snapshots and FlexClone mounts of Proxmox VE VM disks" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/pve-ontap-controller /usr/local/bin/pve-ontap-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/pve-ontap-controller"]
