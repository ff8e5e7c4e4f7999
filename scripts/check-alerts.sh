#!/usr/bin/env bash
# Checks the chart's alert rules with promtool: renders templates/prometheusrule.yaml (the one source of the rules),
# takes its spec as a plain Prometheus rule file, runs `promtool check rules` on it with the default values and
# with every optional value set, and `promtool test rules` with charts/pve-ontap-controller/tests/alerts-test.yaml.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

helm="${HELM:-$helm_bin/helm}"
[ -x "$helm" ] || helm=$(command -v helm) || die "helm not found (run \`make provision\`)"
promtool="${PROMTOOL:-$promtool_bin/promtool}"
[ -x "$promtool" ] || die "promtool not found at $promtool (run \`make provision\`)"
chart="$root/charts/pve-ontap-controller"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# rule_file OUT [helm flags...]: the rendered PrometheusRule's spec, which is a Prometheus rule file as it stands.
rule_file() {
  local out=$1; shift
  "$helm" template pve-ontap-controller "$chart" --namespace pve-ontap-system --kube-version "$KUBE_VERSION" \
    --show-only templates/prometheusrule.yaml --set metrics.prometheusRule.enabled=true "$@" >"$work/rendered.yaml"
  # spec is the template's last top-level key; everything after it, one level less indented, is the rule file.
  awk 'body { sub(/^  /, ""); print } /^spec:$/ { body = 1 }' "$work/rendered.yaml" >"$out"
  grep -q '^groups:' "$out" || die "no rule groups under spec in the rendered PrometheusRule ($work/rendered.yaml)"
}

rule_file "$work/alerts.rules.yaml"
"$promtool" check rules --lint=all --lint-fatal "$work/alerts.rules.yaml"
cp "$chart/tests/alerts-test.yaml" "$work/"
(cd "$work" && "$promtool" test rules alerts-test.yaml)

# The optional values go into the expressions and the rule list; a value that breaks them must fail here.
cat >"$work/values.yaml" <<'VALUES'
metrics:
  prometheusRule:
    selector: 'job=~"pve-ontap.*",namespace="prod"'
    alertLabels: {team: storage, severity: page}
    errorRate: 0.5
    backend5xxRatio: 0.25
    vmDisturbedFor: 1h30m
    additionalRules:
      - alert: PveOntapSlowReconciles
        expr: histogram_quantile(0.95, sum by (le, kind) (rate(pveontap_reconcile_duration_seconds_bucket[10m]))) > 30
        for: 15m
        labels: {severity: info}
        annotations: {summary: 'slow reconciles of {{ $labels.kind }}'}
VALUES
rule_file "$work/custom.rules.yaml" --values "$work/values.yaml"
"$promtool" check rules --lint=all --lint-fatal "$work/custom.rules.yaml"
grep -q 'alert: PveOntapSlowReconciles' "$work/custom.rules.yaml" || die "additionalRules did not reach the rule file"
log "alert rules pass promtool check and unit tests"
