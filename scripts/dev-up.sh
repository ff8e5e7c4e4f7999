#!/usr/bin/env bash
# Starts the local environment in the background and returns once it is ready:
#   control plane (etcd + kube-apiserver, RBAC, our CRDs)  -> .dev/kubeconfig (admin)
#   pve-ontap-sim with its default scenario                 -> .dev/sim-tls/ca.crt
#   the controller, running as the Helm chart's ServiceAccount
# .dev/env (sourceable) records URLs, ports, pids and the simulator's CA path; logs are in .dev/logs/.
# `scripts/dev-down.sh` stops everything. Missing pieces (e.g. a controller that does not build yet) are reported
# and the rest still comes up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dev="$root/.dev"
logs="$dev/logs"
env_file="$dev/env"
target="${CARGO_TARGET_DIR:-$root/target}/debug"
ontap_addr="${PVE_ONTAP_SIM_ONTAP_ADDR:-127.0.0.1:8443}"
pve_addr="${PVE_ONTAP_SIM_PVE_ADDR:-127.0.0.1:8006}"
metrics_addr="${PVE_ONTAP_DEV_METRICS_ADDR:-127.0.0.1:18080}"
namespace="${PVE_ONTAP_DEV_NAMESPACE:-pve-ontap-system}"
release=pve-ontap-controller
export PATH="$kube_bin:$helm_bin:$PATH"

if [ -f "$env_file" ]; then
  # shellcheck disable=SC1090
  . "$env_file"
  if kill -0 "${PVE_ONTAP_CONTROLPLANE_PID:-0}" 2>/dev/null; then
    log "already up (KUBECONFIG=$dev/kubeconfig); run scripts/dev-down.sh first to restart"
    exit 0
  fi
  "$root/scripts/dev-down.sh" >/dev/null
fi

"$root/scripts/provision.sh"
mkdir -p "$logs"
cd "$root"

log "building the control plane runner and the simulator"
cargo build -q -p testkit --bin pve-ontap-dev
cargo build -q -p pve-ontap-sim --bin pve-ontap-sim
controller_problem=""
if ! cargo build -q -p pve-ontap-controller --bin pve-ontap-controller 2>"$logs/controller-build.log"; then
  controller_problem="the controller does not build yet (see .dev/logs/controller-build.log)"
fi

# Detached (own session) so Ctrl-C in the terminal reaches only the demo script, which then runs dev-down.
start_bg() { # name log command...
  local name=$1 logfile=$2; shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$dev/$name.pid"
}

wait_until() { # description timeout-seconds pid command...
  local what=$1 timeout=$2 pid=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.3
  done
}

write_env() {
  local tmp="$env_file.tmp"
  {
    echo "# Written by scripts/dev-up.sh; source it: . .dev/env"
    echo "export KUBECONFIG=$dev/kubeconfig"
    sed -e 's/^/export /' "$dev/controlplane.env"
    echo "export PVE_ONTAP_SIM_PID=${sim_pid:-}"
    echo "export PVE_ONTAP_SIM_ONTAP_URL=https://$ontap_addr"
    echo "export PVE_ONTAP_SIM_PVE_URL=https://$pve_addr"
    echo "export PVE_ONTAP_SIM_CA=$dev/sim-tls/ca.crt"
    echo "export PVE_ONTAP_CONTROLLER_PID=${controller_pid:-}"
    echo "export PVE_ONTAP_CONTROLLER_METRICS=http://$metrics_addr"
    echo "export PVE_ONTAP_CONTROLLER_NAMESPACE=$namespace"
    echo "export PVE_ONTAP_CONTROLLER_PROBLEM=\"${controller_problem}\""
  } >"$tmp"
  mv "$tmp" "$env_file"
}

# 1. Control plane.
rm -f "$dev/controlplane.env"
start_bg controlplane "$logs/controlplane.log" "$target/pve-ontap-dev" \
  --state-dir "$dev/controlplane" --kubeconfig "$dev/kubeconfig" --env-file "$dev/controlplane.env"
cp_pid=$(cat "$dev/controlplane.pid")
log "starting the control plane (pid $cp_pid)"
if ! wait_until "the control plane" 180 "$cp_pid" test -f "$dev/controlplane.env"; then
  tail -n 30 "$logs/controlplane.log" >&2
  die "the control plane did not start (log: .dev/logs/controlplane.log)"
fi
# shellcheck disable=SC1091
. "$dev/controlplane.env"
export KUBECONFIG="$dev/kubeconfig"

# 2. Simulator, fresh state each time: the control plane's etcd is fresh too.
rm -f "$dev/sim-state.json"
start_bg sim "$logs/sim.log" "$target/pve-ontap-sim" \
  --ontap-addr "$ontap_addr" --pve-addr "$pve_addr" --tls-dir "$dev/sim-tls" --state "$dev/sim-state.json"
sim_pid=$(cat "$dev/sim.pid")
log "starting the simulator (pid $sim_pid): ONTAP https://$ontap_addr, Proxmox VE https://$pve_addr"
if ! wait_until "the simulator" 60 "$sim_pid" grep -q "pve-ontap-sim ready" "$logs/sim.log"; then
  write_env
  tail -n 30 "$logs/sim.log" >&2
  die "the simulator did not start (log: .dev/logs/sim.log); scripts/dev-down.sh stops the rest"
fi

# 3. Controller under the chart's ServiceAccount and RBAC, exactly as `helm install` would grant them, with the
#    chart's admission policy confining backend Secret references to the controller's namespace.
if [ -z "$controller_problem" ]; then
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  rbac=$(helm template "$release" "$root/charts/pve-ontap-controller" --namespace "$namespace" \
    --kube-version "$KUBE_VERSION" --show-only templates/serviceaccount.yaml --show-only templates/clusterrole.yaml \
    --show-only templates/clusterrolebinding.yaml --show-only templates/role.yaml --show-only templates/rolebinding.yaml \
    --show-only templates/admissionpolicy.yaml)
  sa=$(echo "$rbac" | kubectl apply -f - -o name | sed -n 's|^serviceaccount/||p')
  token=$(kubectl -n "$namespace" create token "$sa" --duration=24h)
  ca_data=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  umask 077
  cat >"$dev/controller.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: dev
    cluster: { server: "$PVE_ONTAP_APISERVER", certificate-authority-data: "$ca_data" }
users:
  - name: $sa
    user: { token: "$token" }
contexts:
  - name: controller
    context: { cluster: dev, user: $sa, namespace: $namespace }
current-context: controller
KUBECONFIG
  umask 022
  start_bg controller "$logs/controller.log" env KUBECONFIG="$dev/controller.kubeconfig" POD_NAME=dev-controller \
    "$target/pve-ontap-controller" --metrics-addr "$metrics_addr"
  controller_pid=$(cat "$dev/controller.pid")
  log "starting the controller (pid $controller_pid) as ServiceAccount $namespace/$sa"
  if ! wait_until "the controller's /readyz" 90 "$controller_pid" curl -sf "http://$metrics_addr/readyz"; then
    if kill -0 "$controller_pid" 2>/dev/null; then
      controller_problem="the controller runs but is not ready (see .dev/logs/controller.log)"
    else
      controller_problem="the controller exited (see .dev/logs/controller.log)"
      controller_pid=""
    fi
    tail -n 15 "$logs/controller.log" >&2 || true
  fi
fi
write_env

echo
log "up. Use it with:  export KUBECONFIG=$dev/kubeconfig   (or: . .dev/env)"
log "  kubectl get pveontap -A        # every kind of ours (category pveontap)"
log "  curl -s --cacert .dev/sim-tls/ca.crt https://$ontap_addr/_sim/inventory"
log "  logs: .dev/logs/   stop: make dev-down"
if [ -n "$controller_problem" ]; then
  log "WARNING: $controller_problem; control plane and simulator are up"
fi
