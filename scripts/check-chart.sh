#!/usr/bin/env bash
# Fails when the chart's CRDs differ from crds/ or deploy/ differs from what scripts/render-deploy.sh renders.
# Fix with: scripts/render-deploy.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

chart_crds="$root/charts/pve-ontap-controller/crds"
status=0
if ! diff -r -u "$root/crds" "$chart_crds"; then
  echo "check-chart: $chart_crds differs from crds/ (run scripts/render-deploy.sh)" >&2
  status=1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/scripts/render-deploy.sh" "$work"
# deploy/examples/ and deploy/gitops/ are written by hand, not rendered from the chart.
if ! diff -u -r -x examples -x gitops "$root/deploy" "$work"; then
  echo "check-chart: deploy/ is out of date with the chart (run scripts/render-deploy.sh)" >&2
  status=1
fi
[ $status -ne 0 ] || log "chart CRDs and deploy/ are in sync"
exit $status
