#!/usr/bin/env bash
# Builds the pinned promtool (which checks and unit-tests the chart's alert rules) into the tool cache. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# v0.3MM.P is the Go module of Prometheus v3.MM.P; promtool reports the latter.
release="v3.$(echo "$PROMETHEUS_VERSION" | sed -E 's/^v0\.3([0-9]{2})\.([0-9]+)$/\1.\2/' | sed -E 's/^0//')"

reports_version() {
  ("$promtool_bin/promtool" --version) 2>/dev/null | grep -q "^promtool, version ${release#v} "
}

provision() {
  if [ -x "$promtool_bin/promtool" ] && reports_version; then
    log "promtool $release is cached in $promtool_bin"
    return
  fi
  command -v go >/dev/null || die "Go is required to build promtool"
  log "building promtool $release (module $PROMETHEUS_VERSION) into $promtool_bin"
  rm -rf "$promtool_bin"
  mkdir -p "$promtool_bin"
  # `go install module@version` refuses modules whose go.mod has replace directives, and Prometheus has one;
  # building inside the downloaded module keeps its go.mod and go.sum authoritative (its go.work names
  # directories the module zip leaves out, hence GOWORK=off).
  local src
  src=$(go mod download -json "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  [ -d "$src/cmd/promtool" ] || die "no cmd/promtool in $src"
  # Without the stamped version promtool reports an empty one, and the cache check above could never pass.
  (cd "$src" && GOWORK=off CGO_ENABLED=0 go build -trimpath -tags netgo \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${release#v} -X github.com/prometheus/common/version.Branch=module -X github.com/prometheus/common/version.Revision=$PROMETHEUS_VERSION" \
    -o "$promtool_bin/promtool.tmp" ./cmd/promtool)
  mv "$promtool_bin/promtool.tmp" "$promtool_bin/promtool"
  reports_version || die "built promtool does not report version ${release#v}"
  log "done"
}

with_lock "$promtool_dir.lock" provision
