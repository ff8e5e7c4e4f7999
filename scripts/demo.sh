#!/usr/bin/env bash
# `make demo`: the whole system on this machine. Brings up the environment (dev-up), applies deploy/examples/,
# waits until every example is Ready, shows our objects and the simulator's inventory, then stays up until
# Ctrl-C and tears everything down.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH="$kube_bin:$helm_bin:$PATH"
cd "$root"

sleeper=""
trap 'echo; log "tearing down"; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; scripts/dev-down.sh' EXIT
trap 'exit 130' INT TERM

scripts/dev-up.sh
# shellcheck disable=SC1091
. .dev/env
# The kubectl plugin for the quick start; the demo runs without it if it does not build.
plugin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
if cargo build -q -p kubectl-pveontap 2>"$root/.dev/logs/plugin-build.log"; then
  plugin_ready=1
else
  plugin_ready=""
  log "WARNING: kubectl-pveontap did not build (.dev/logs/plugin-build.log); the demo runs without it"
fi
kinds=(proxmoxclusters ontapclusters volumesnapshots vmdiskclones flexclonemounts volumesnapshotschedules)

# The simulator's CA is generated per machine, so examples reference it through this Secret instead of inlining it.
kubectl create namespace "$PVE_ONTAP_CONTROLLER_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$PVE_ONTAP_CONTROLLER_NAMESPACE" create secret generic pve-ontap-sim-ca \
  --from-file=ca.crt="$PVE_ONTAP_SIM_CA" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

shopt -s nullglob
examples=(deploy/examples/*.yaml)
if [ ${#examples[@]} -eq 0 ]; then
  log "deploy/examples/ holds no manifests yet; nothing to apply"
else
  log "applying deploy/examples/"
  kubectl apply -f deploy/examples/
  if [ -n "$PVE_ONTAP_CONTROLLER_PROBLEM" ]; then
    log "not waiting for Ready: $PVE_ONTAP_CONTROLLER_PROBLEM"
  else
    for kind in "${kinds[@]}"; do
      if [ -n "$(kubectl get "$kind" -A -o name 2>/dev/null)" ]; then
        log "waiting for $kind to be Ready"
        kubectl wait --for=condition=Ready "$kind" --all -A --timeout=300s \
          || log "WARNING: not every $kind became Ready (kubectl describe $kind -A; .dev/logs/controller.log)"
      fi
    done
    # The restore example is a plan only (it waits while VM 100 runs): shown, not waited for Ready.
    if kubectl get volumesnapshotrestores -n pve-ontap-demo ontap01-rollback -o name >/dev/null 2>&1; then
      log "waiting for the restore example's plan"
      kubectl wait --for=jsonpath='{.status.plan}' -n pve-ontap-demo volumesnapshotrestore/ontap01-rollback \
        --timeout=120s >/dev/null || log "WARNING: the restore example has no plan yet"
      kubectl get vsr -n pve-ontap-demo ontap01-rollback \
        -o jsonpath='{"  plan: destroys "}{.status.plan.destroys[*].name}{", stops VMs "}{.status.plan.stops[*].vmid}{"\n  "}{.status.conditions[?(@.type=="Ready")].reason}{": "}{.status.message}{"\n"}'
    fi
  fi
fi

echo
log "our objects (kubectl get pveontap -A):"
kubectl get pveontap -A 2>/dev/null || echo "  (none)"
echo
log "simulator inventory (GET $PVE_ONTAP_SIM_ONTAP_URL/_sim/inventory):"
curl -sf --cacert "$PVE_ONTAP_SIM_CA" "$PVE_ONTAP_SIM_ONTAP_URL/_sim/inventory" | python3 -c '
import json, sys
def label(item):
    if isinstance(item, dict):
        for key in ("name", "vmid", "id", "path", "uuid"):
            if key in item:
                return str(item[key])
    return None
def show(value, indent):
    for key, sub in value.items():
        if isinstance(sub, list):
            names = [n for n in map(label, sub) if n]
            detail = (": " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")) if names else ""
            print(f"{indent}{key}: {len(sub)}{detail}")
        elif isinstance(sub, dict) and indent == "  ":
            print(f"{indent}{key}:")
            show(sub, indent + "  ")
        elif isinstance(sub, dict):
            print(f"{indent}{key}: {len(sub)} entries")
        else:
            print(f"{indent}{key}: {sub}")
show(json.load(sys.stdin), "  ")
' || log "WARNING: could not read the simulator inventory"

cat <<USAGE

Everything is up. In another terminal:
  export KUBECONFIG=$root/.dev/kubeconfig      # or: . .dev/env
  kubectl get pveontap -A                      # VmDiskClones, VolumeSnapshots, FlexCloneMounts, backends
  kubectl describe vmdiskclone -A              # conditions and events
  kubectl apply -f deploy/examples/            # edit and re-apply examples
  curl -s --cacert .dev/sim-tls/ca.crt $PVE_ONTAP_SIM_ONTAP_URL/_sim/inventory
USAGE
if [ -n "$plugin_ready" ]; then
  cat <<PLUGIN
The kubectl plugin (kubectl pveontap; the old pve-ontap-snapshot commands):
  export PATH=$plugin_dir:\$PATH
  kubectl pveontap -n pve-ontap-demo status                        # backends and objects per phase
  kubectl pveontap -n pve-ontap-demo vm clone 100 --fsfreeze       # vm create -vm 100, waits until Ready
  kubectl pveontap -n pve-ontap-demo storage snapshot ONTAP01 --name before-upgrade
  kubectl pveontap -n pve-ontap-demo storage list
  kubectl pveontap -n pve-ontap-demo storage mount before-upgrade --name ONTAP01-CLONE
  kubectl pveontap -n pve-ontap-demo storage show ONTAP01
  kubectl pveontap -n pve-ontap-demo storage unmount ONTAP01-CLONE
  kubectl pveontap -n pve-ontap-demo storage restore before-upgrade --restart-vms   # shows the plan, asks
  kubectl pveontap -n pve-ontap-demo storage delete before-upgrade
  kubectl pveontap -n pve-ontap-demo vm clone 100 -o yaml          # the manifest, for a GitOps repository
PLUGIN
fi
cat <<USAGE
Logs: .dev/logs/ (controller.log, sim.log, controlplane.log; kube-apiserver/etcd logs in .dev/controlplane/)
Press Ctrl-C to stop and tear everything down.
USAGE
while true; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper"
done
