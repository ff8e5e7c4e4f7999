#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the published Go modules into .cache/bin.
# Idempotent: a stamp file records the versions; a missing or unrunnable binary triggers a rebuild.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/versions.env"
cache="$root/.cache"
bin="$cache/bin"
work="$cache/kube-build"
stamp="$bin/.kube-stamp"
want="kube=$KUBE_VERSION staging=$KUBE_STAGING_VERSION"
mkdir -p "$bin"

healthy() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] || return 1
  "$bin/kube-apiserver" --version >/dev/null 2>&1 || return 1
  "$bin/etcd" --version >/dev/null 2>&1 || return 1
}

if healthy; then
  echo "provision-kube: kube-apiserver $KUBE_VERSION and etcd are cached in $bin"
  exit 0
fi

echo "provision-kube: building kube-apiserver $KUBE_VERSION and etcd from Go modules (first run takes a while)"
rm -f "$stamp"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
export GOFLAGS=-mod=mod
go mod init pveontap.local/kube-build >/dev/null 2>&1

# k8s.io/kubernetes points each staging module at ./staging/...; replace each with its published release.
gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u)
[ -n "$staging" ] || { echo "provision-kube: found no staging modules in $gomod" >&2; exit 1; }
for m in $staging; do
  go mod edit -replace "$m=$m@$KUBE_STAGING_VERSION"
done
go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
# etcd's server module is already in the graph (k8s.io/apiserver depends on it), so its version matches the
# client kube-apiserver was built against.
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
go get "go.etcd.io/etcd/server/v3@$etcd_version"

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" \
  -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
mv "$bin/etcd.tmp" "$bin/etcd"
echo "$want" > "$stamp"
healthy || { echo "provision-kube: built binaries do not run" >&2; exit 1; }
echo "provision-kube: done"
