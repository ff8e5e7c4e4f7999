#!/usr/bin/env bash
# `make plugin-krew`: a release build of kubectl-pveontap packed as krew expects it (a tar.gz holding the binary)
# and plugin/krew/pveontap.yaml with that archive's sha256, both in dist/. Linux amd64 only: the machine's build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$root"

cargo build -q --release -p kubectl-pveontap
bin="${CARGO_TARGET_DIR:-$root/target}/release/kubectl-pveontap"
mkdir -p dist/krew
archive=dist/kubectl-pveontap-linux-amd64.tar.gz
tar -czf "$archive" -C "$(dirname "$bin")" kubectl-pveontap
sha=$(sha256sum "$archive" | cut -d' ' -f1)
sed "s/@SHA256_LINUX_AMD64@/$sha/" plugin/krew/pveontap.yaml >dist/krew/pveontap.yaml
log "archive: $archive (sha256 $sha)"
log "manifest: dist/krew/pveontap.yaml"
echo "install: kubectl krew install --manifest=dist/krew/pveontap.yaml --archive=$archive"
