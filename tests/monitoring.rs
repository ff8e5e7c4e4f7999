//! The chart's Grafana dashboard and alert rules, checked against the metrics the controller really exports: every
//! `pveontap_*` name in their queries is a sample name the registry encodes, every label a selector matches on is
//! one that metric carries (or one Prometheus gives the scrape target), and an exact label value is one the code
//! can produce. Also: each alert has its runbook section in docs/alerts.md, and the chart ships both when enabled.
//! promtool checks the rules' syntax and behaviour (`make check-alerts`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pve_ontap_controller::api::Phase;
use pve_ontap_controller::controller::error::Error;
use pve_ontap_controller::metrics::{Metrics, VmDisturbance};
use pve_ontap_controller::request_observer::{Backend, Outcome, RequestEvent, RequestObserver};
use regex::Regex;
use serde::Deserialize as _;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/pve-ontap-controller")
}

/// Labels Prometheus attaches to every scraped series (the Prometheus Operator adds `namespace`, `pod`, ...).
const TARGET_LABELS: [&str; 5] = ["job", "namespace", "pod", "instance", "service"];

/// Sample name → label name → the values seen, from the registry's text encoding after every family got samples.
type Exported = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Every phase the status can hold, from the type's own schema (so a new phase is covered without editing this).
fn phases() -> Vec<&'static str> {
    let schema = serde_json::to_value(schemars::schema_for!(Phase)).unwrap();
    let variants = schema["enum"]
        .as_array()
        .or_else(|| schema["oneOf"].as_array())
        .unwrap_or_else(|| panic!("no variants in the Phase schema {schema}"));
    variants
        .iter()
        .flat_map(|v| match (v.get("enum"), v.get("const")) {
            (Some(e), _) => e.as_array().cloned().unwrap_or_default(),
            (None, Some(c)) => vec![c.clone()],
            (None, None) => vec![v.clone()],
        })
        .map(|v| {
            serde_json::from_value::<Phase>(v)
                .expect("a Phase")
                .as_str()
        })
        .collect()
}

fn exported() -> Exported {
    let metrics = Metrics::new();
    // Families without samples are not encoded, so each one is fed through the API the controller uses.
    drop(metrics.reconcile_started("VmDiskClone"));
    metrics.reconcile_failed("VmDiskClone", Error::Waiting(String::new()).category());
    metrics.reconcile_failed("VmDiskClone", "OntapTransient");
    for (i, phase) in phases().into_iter().enumerate() {
        metrics.phase_changed("VolumeSnapshot", phase);
        metrics.object_phase("VolumeSnapshot", &format!("uid-{i}"), phase);
    }
    let outcomes = [
        Outcome::from_status(200),
        Outcome::from_status(404),
        Outcome::from_status(503),
        Outcome::TransportError,
    ];
    for outcome in outcomes {
        metrics.observe(&RequestEvent {
            backend: Backend::Proxmox,
            method: "GET",
            endpoint: "/api2/json/nodes/{node}/qemu/{vmid}/status/current",
            outcome,
            duration: Duration::from_millis(3),
        });
    }
    metrics.set_disturbed("uid-0", [(100, VmDisturbance::Frozen)]);
    metrics.set_leader(true);
    let text = metrics.encode().expect("encode");

    // A family this test does not feed would be missing below and its names reported as unknown; say so instead.
    let registered = metrics.family_names();
    assert!(!registered.is_empty(), "no metric families registered");
    let encoded: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let unfed: Vec<&String> = registered.difference(&encoded).collect();
    assert!(
        unfed.is_empty(),
        "metrics without samples in this test (feed them in exported()): {unfed:?}"
    );

    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut out = Exported::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..end].to_owned()).or_default();
        if line[end..].starts_with('{') {
            let close = line.rfind('}').expect("closing brace");
            for c in label.captures_iter(&line[end..close]) {
                labels
                    .entry(c[1].to_owned())
                    .or_default()
                    .insert(c[2].to_owned());
            }
        }
    }
    out
}

/// What is wrong with one query against the exported metrics (empty: nothing).
fn problems(expr: &str, exported: &Exported) -> Vec<String> {
    let name = Regex::new(r"\bpveontap_[a-zA-Z0-9_]*").unwrap();
    let selector = Regex::new(r"\b(pveontap_[a-zA-Z0-9_]*)\s*\{([^}]*)\}").unwrap();
    let matcher = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)""#).unwrap();
    let mut found = Vec::new();
    for m in name.find_iter(expr) {
        if !exported.contains_key(m.as_str()) {
            found.push(format!("{} is not exported", m.as_str()));
        }
    }
    for s in selector.captures_iter(expr) {
        let Some(labels) = exported.get(&s[1]) else {
            continue;
        };
        for m in matcher.captures_iter(&s[2]) {
            let (key, op, value) = (&m[1], &m[2], &m[3]);
            match labels.get(key) {
                // A regex or a Grafana variable stands for values chosen at query time.
                Some(values) if matches!(op, "=" | "!=") && !value.contains('$') => {
                    if !values.contains(value) {
                        found.push(format!(
                            "{}: {key}=\"{value}\" is never exported (values: {values:?})",
                            &s[1]
                        ));
                    }
                }
                Some(_) => {}
                None if TARGET_LABELS.contains(&key) => {}
                None => found.push(format!("{} has no label {key}", &s[1])),
            }
        }
    }
    found
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(chart().join("files/dashboard.json")).expect("dashboard");
    serde_json::from_str(&text).expect("dashboard.json is JSON")
}

/// Every query of the dashboard: panel targets and template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                        _ => walk(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

fn helm_template(extra: &[&str]) -> Vec<Value> {
    let chart = chart();
    let kube = testkit::paths::pinned_version("KUBE_VERSION").expect("KUBE_VERSION");
    let mut args = vec![
        "template",
        "pve-ontap-controller",
        chart.to_str().unwrap(),
        "--namespace",
        "pve-ontap-system",
        "--kube-version",
        kube,
    ];
    args.extend(extra);
    let helm = testkit::paths::helm_binary();
    let out = Command::new(&helm)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("running {} (run `make provision`): {e}", helm.display()));
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout))
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn with_monitoring() -> Vec<Value> {
    helm_template(&[
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.prometheusRule.labels.release=prometheus",
    ])
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

fn rules(docs: &[Value]) -> Vec<Value> {
    one(docs, "PrometheusRule")["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn the_checker_rejects_what_the_controller_does_not_export() {
    let exported = exported();
    for bad in [
        // Counters are exported with `_total`.
        "rate(pveontap_reconcile_errors[5m])",
        "pveontap_backend_requests_total{outcome=\"5xx\"}",
        "pveontap_objects{phase=\"Stuck\"}",
        "pveontap_leader{kind=\"VmDiskClone\"}",
        "histogram_quantile(0.9, rate(pveontap_backend_request_duration_bucket[5m]))",
    ] {
        assert!(
            !problems(bad, &exported).is_empty(),
            "{bad} passed the check"
        );
    }
    for good in [
        "sum by (le) (rate(pveontap_backend_request_duration_seconds_bucket{job=~\"$job\"}[5m]))",
        "pveontap_vms_disturbed{state=\"hibernated\",namespace=\"x\"}",
        "pveontap_reconcile_errors_total{category!=\"Waiting\"}",
    ] {
        assert_eq!(problems(good, &exported), Vec::<String>::new(), "{good}");
    }
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let exported = exported();
    let dashboard = dashboard();
    let queries = dashboard_queries(&dashboard);
    let used: BTreeSet<&str> = queries
        .iter()
        .flat_map(|q| {
            Regex::new(r"\bpveontap_[a-z0-9_]*")
                .unwrap()
                .find_iter(q)
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(used.len() >= 8, "the dashboard uses only {used:?}");
    let wrong: Vec<String> = queries
        .iter()
        .flat_map(|q| {
            problems(q, &exported)
                .into_iter()
                .map(move |p| format!("{p} in {q}"))
        })
        .collect();
    assert!(wrong.is_empty(), "files/dashboard.json: {wrong:#?}");

    // Every panel shows something of ours, under an id of its own.
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().expect("id")),
            "duplicate id {panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty()
                && targets
                    .iter()
                    .all(|t| t["expr"].as_str().is_some_and(|e| e.contains("pveontap_"))),
            "panel {} queries none of our metrics",
            panel["title"]
        );
    }
}

#[test]
fn the_alerts_query_only_exported_metrics_and_have_runbooks() {
    let exported = exported();
    let docs = with_monitoring();
    let rules = rules(&docs);
    let runbook = std::fs::read_to_string(root().join("docs/alerts.md")).expect("docs/alerts.md");
    let sections: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut alerts = BTreeSet::new();
    for rule in &rules {
        let alert = rule["alert"].as_str().expect("an alert rule");
        alerts.insert(alert.to_owned());
        let expr = rule["expr"].as_str().expect("expr");
        let wrong = problems(expr, &exported);
        assert!(wrong.is_empty(), "{alert}: {wrong:?} in {expr}");
        assert!(
            rule["labels"]["severity"].is_string(),
            "{alert} has no severity"
        );
        let description = rule["annotations"]["description"].as_str().unwrap_or("");
        assert!(
            rule["annotations"]["summary"].is_string(),
            "{alert} has no summary"
        );
        let anchor = alert.to_lowercase();
        assert!(
            description.contains(&format!("docs/alerts.md#{anchor}")),
            "{alert}: the description must point at its runbook"
        );
        assert!(
            sections.contains(&anchor),
            "docs/alerts.md has no section `## {alert}`"
        );
    }
    assert_eq!(
        alerts,
        BTreeSet::from(
            [
                "PveOntapBackendServerErrors",
                "PveOntapNoLeader",
                "PveOntapObjectsNotReady",
                "PveOntapReconcileErrors",
                "PveOntapVmDisturbed"
            ]
            .map(str::to_owned)
        )
    );
}

#[test]
fn the_chart_ships_rules_and_dashboard_only_when_asked() {
    let defaults = helm_template(&[]);
    assert!(
        !defaults
            .iter()
            .any(|d| d["kind"] == "PrometheusRule" || d["kind"] == "ConfigMap"),
        "neither the rules nor the dashboard by default"
    );

    let docs = with_monitoring();
    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    // The rules pick this release's series by the labels its ServiceMonitor's targets get.
    let monitor_job = one(&docs, "Service")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let selector = format!("job=\"{monitor_job}\",namespace=\"pve-ontap-system\"");
    for r in rules(&docs) {
        assert!(
            r["expr"].as_str().unwrap().contains(&selector),
            "{} does not select {selector}",
            r["alert"]
        );
    }

    let map = one(&docs, "ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value = serde_json::from_str(
        map["data"]["pve-ontap-controller.json"]
            .as_str()
            .expect("dashboard key"),
    )
    .expect("shipped dashboard is JSON");
    assert_eq!(shipped, dashboard());

    // Thresholds and extra rules from the values reach the rules.
    let docs = helm_template(&[
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.prometheusRule.vmDisturbedFor=3m",
        // `--set` would pass 0.2 as a string, which the schema rejects.
        "--set-json",
        "metrics.prometheusRule.backend5xxRatio=0.2",
        "--set",
        "metrics.prometheusRule.selector=job=\"x\"",
        "--set-json",
        r#"metrics.prometheusRule.additionalRules=[{"alert":"Extra","expr":"vector(1)"}]"#,
    ]);
    let rules = rules(&docs);
    let by_name = |n: &str| rules.iter().find(|r| r["alert"] == n).unwrap().clone();
    assert_eq!(by_name("PveOntapVmDisturbed")["for"], "3m");
    let expr = by_name("PveOntapBackendServerErrors")["expr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(expr.trim_end().ends_with("> 0.2"), "{expr}");
    assert!(
        expr.contains("{job=\"x\",outcome=\"server_error\"}"),
        "{expr}"
    );
    assert_eq!(by_name("Extra")["expr"], "vector(1)");
}
