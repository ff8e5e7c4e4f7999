#!/usr/bin/env bash
# Installs the pinned helm into the tool cache with `go install`. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

provision() {
  if [ -x "$helm_bin/helm" ] && "$helm_bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
    log "helm $HELM_VERSION is cached in $helm_bin"
    return
  fi
  command -v go >/dev/null || die "Go is required to build helm"
  log "building helm $HELM_VERSION into $helm_bin"
  rm -rf "$helm_bin"
  mkdir -p "$helm_bin"
  # Helm stamps its version at link time; without it `helm version` reports a placeholder.
  GOBIN="$helm_bin" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  "$helm_bin/helm" version --short | grep -q "^$HELM_VERSION" || die "built helm does not report $HELM_VERSION"
  log "done"
}

with_lock "$helm_dir.lock" provision
