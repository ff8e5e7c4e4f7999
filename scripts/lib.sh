# Shared by the scripts: repository root, pinned versions and the tool cache layout (mirrored by testkit/src/paths.rs).
# The tool cache lives outside the checkout so fresh clones (CI) reuse the one-off builds.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/versions.env"
cache="${PVE_ONTAP_CACHE:-$HOME/.cache/pve-ontap-controller}"
kube_dir="$cache/kube-$KUBE_VERSION"
kube_bin="$kube_dir/bin"
helm_dir="$cache/helm-$HELM_VERSION"
helm_bin="$helm_dir/bin"
promtool_dir="$cache/promtool-$PROMETHEUS_VERSION"
promtool_bin="$promtool_dir/bin"
export PVE_ONTAP_CACHE="$cache"

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*"; }
die() { printf '%s: error: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# Serializes provisioning between concurrent runs (a developer and CI on one machine).
with_lock() {
  local lock=$1; shift
  mkdir -p "$(dirname "$lock")"
  exec {lock_fd}>"$lock"
  flock "$lock_fd"
  "$@"
  flock -u "$lock_fd"
}
