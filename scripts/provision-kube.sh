#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the published Go modules into the tool cache.
# Idempotent: a stamp records the versions; a missing or unrunnable binary is rebuilt, a stamp for other versions
# (or none) means a full rebuild.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

work="$kube_dir/build"
stamp="$kube_dir/.stamp"
want="kube=$KUBE_VERSION staging=$KUBE_STAGING_VERSION"

# In a subshell so a corrupt binary's crash is not reported by this shell.
runs() {
  case "$1" in
    kubectl) ("$kube_bin/kubectl" version --client) >/dev/null 2>&1 ;;
    *) ("$kube_bin/$1" --version) >/dev/null 2>&1 ;;
  esac
}

# A go.mod that requires k8s.io/kubernetes and replaces each staging module (which k8s.io/kubernetes points at
# ./staging/...) with its published release.
prepare_module() {
  if [ -f "$work/.ready" ] && [ "$(cat "$work/.ready")" = "$want" ]; then return; fi
  rm -rf "$work"
  mkdir -p "$work"
  (
    cd "$work"
    go mod init pveontap.local/kube-build >/dev/null 2>&1
    local gomod staging m
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u)
    [ -n "$staging" ] || die "found no staging modules in $gomod"
    for m in $staging; do
      go mod edit -replace "$m=$m@$KUBE_STAGING_VERSION"
    done
    go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION"
    # etcd's server module is already in the graph (k8s.io/apiserver depends on it), so its version matches the
    # client kube-apiserver is built against.
    go get "go.etcd.io/etcd/server/v3@$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
  )
  echo "$want" > "$work/.ready"
}

build() {
  local name=$1 pkg=$2 ldflags="-s -w"
  if [ "$name" != etcd ]; then
    local minor; minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
    ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  fi
  log "building $name ($pkg)"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$kube_bin/$name.tmp" "$pkg")
  mv "$kube_bin/$name.tmp" "$kube_bin/$name"
  runs "$name" || die "built $name does not run"
}

provision() {
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$kube_bin" "$stamp"
  fi
  mkdir -p "$kube_bin"
  local missing=()
  runs kube-apiserver || missing+=("kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver")
  runs etcd || missing+=("etcd=go.etcd.io/etcd/server/v3")
  runs kubectl || missing+=("kubectl=k8s.io/kubernetes/cmd/kubectl")
  if [ ${#missing[@]} -eq 0 ]; then
    log "kube-apiserver $KUBE_VERSION, etcd and kubectl are cached in $kube_bin"
    return
  fi
  command -v go >/dev/null || die "Go is required to build ${missing[*]%%=*}"
  log "building ${missing[*]%%=*} from Go modules into $kube_bin (from scratch this takes 10-30 minutes)"
  export GOFLAGS=-mod=mod
  prepare_module
  local entry
  for entry in "${missing[@]}"; do
    build "${entry%%=*}" "${entry#*=}"
  done
  echo "$want" > "$stamp"
  log "done"
}

with_lock "$kube_dir.lock" provision
