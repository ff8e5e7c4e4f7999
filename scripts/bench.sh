#!/usr/bin/env bash
# `make bench`: release builds of the controller and the benchmark driver, then one benchmark run that prints a
# Markdown report and rewrites BENCHMARKS.md (notes below its marker line are kept). Arguments go to the driver,
# e.g. `scripts/bench.sh --quick`, `--only economy`, `--runs 50`, `--no-write` (see `--help`).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export PATH="$kube_bin:$PATH"
[[ -x "$kube_bin/kube-apiserver" && -x "$kube_bin/etcd" ]] || die "kube-apiserver/etcd missing in $kube_bin; run: make provision"

log "building the release controller and the benchmark driver"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" \
  -p pve-ontap-controller --bin pve-ontap-controller -p bench --bin pve-ontap-bench
target_dir="${CARGO_TARGET_DIR:-$root/target}"

log "running (the full run, at the issue's sizes, takes about 6 minutes on 2 cores; --quick about 2)"
exec "$target_dir/release/pve-ontap-bench" \
  --controller-bin "$target_dir/release/pve-ontap-controller" \
  --output "$root/BENCHMARKS.md" "$@"
