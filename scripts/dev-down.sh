#!/usr/bin/env bash
# Stops everything scripts/dev-up.sh started (controller, simulator, control plane) and leaves no process.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
dev="$root/.dev"

# Only signal a pid that still runs the program we started (pids get reused).
stop() { # name expected-program
  local name=$1 program=$2 pidfile="$dev/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$program"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
}

stop controller pve-ontap-controller
stop sim pve-ontap-sim
# Stops etcd and kube-apiserver itself; they also die with it (PR_SET_PDEATHSIG).
stop controlplane pve-ontap-dev
rm -f "$dev/env" "$dev/controlplane.env"
