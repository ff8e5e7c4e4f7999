//! The Helm chart, the plain manifests in deploy/, the Dockerfile and docs/install.md, checked against the code
//! they describe: `helm lint`; renders with default and non-default values; the schema and template guards
//! reject bad values for the right reason; the Deployment's arguments and environment parse with the binary's
//! own flag definitions; the chart applies to a real kube-apiserver; chart CRDs == crds/; deploy/ == a fresh
//! render; every values key and every metric is documented; the Dockerfile copies the binary cargo builds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::{CommandFactory, Parser};
use pve_ontap_controller::config::{Config, LogFormat};
use pve_ontap_controller::leader::LeaderElectionArgs;
use serde::Deserialize as _;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/pve-ontap-controller")
}

fn kube_version() -> &'static str {
    testkit::paths::pinned_version("KUBE_VERSION").expect("KUBE_VERSION in scripts/versions.env")
}

fn helm(args: &[&str]) -> Output {
    let helm = testkit::paths::helm_binary();
    Command::new(&helm)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {} (run `make provision`): {e}", helm.display()))
}

/// Values for `helm template`: a YAML text, written to a temporary file.
struct Values(tempfile::NamedTempFile);

impl Values {
    fn new(yaml: &str) -> Self {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), yaml).expect("write values");
        Values(file)
    }
}

fn template(release: &str, namespace: &str, values: Option<&Values>) -> Output {
    let chart = chart();
    let mut args = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
        "--kube-version",
        kube_version(),
    ];
    if let Some(values) = values {
        args.extend(["--values", values.0.path().to_str().unwrap()]);
    }
    helm(&args)
}

fn render(release: &str, namespace: &str, values: Option<&Values>) -> Vec<Value> {
    let out = template(release, namespace, values);
    assert!(
        out.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            serde_yaml::from_value::<Value>(serde_yaml::Value::deserialize(doc).expect("YAML"))
                .expect("JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Non-default values exercising every optional part of the chart.
const FULL_VALUES: &str = r#"
replicaCount: 3
logLevel: pve_ontap_controller=debug,info
logFormat: text
watchNamespaces: [team-a, team-b]
clusterId: prod-eu-1
concurrency: {vmDiskClone: 7, volumeSnapshot: 5, flexCloneMount: 3, backends: 1}
resyncSeconds: 120
fsfreezeDeadlineSeconds: 5
shutdownTimeoutSeconds: 240
leaderElection: {enabled: true, leaseDurationSeconds: 20, renewDeadlineSeconds: 12, retryPeriodSeconds: 3}
image: {repository: registry.example.com/pve-ontap-controller, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
metrics:
  port: 9090
  serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}
  prometheusRule: {enabled: true, labels: {release: prometheus}, alertLabels: {team: storage}, notReadyFor: 1h}
  grafanaDashboard: {enabled: true, annotations: {grafana_folder: Storage}}
podDisruptionBudget: {minAvailable: 2}
rbac:
  secretNamespaces: [RELEASE_NAMESPACE]
backends:
  proxmoxClusters:
    - name: pve-BACKEND
      endpoints: [https://pve1.example.com:8006, https://pve2.example.com:8006]
      credentials: {token: "k8s@pve!controller=5f0c"}
      caBundle: |
        -----BEGIN CERTIFICATE-----
        MIIBszCCAVmgAwIBAgIU
        -----END CERTIFICATE-----
      allowedNamespaces: [team-a]
      scopes:
        - {namespaces: [team-a], vmids: ["100-199"], tags: [team-a], storages: [ONTAP01]}
  ontapClusters:
    - name: ontap-BACKEND
      endpoint: https://cluster1.example.com
      credentials: {username: pveontap, password: s3cret}
      caBundleSecretRef: {name: corp-ca, namespace: RELEASE_NAMESPACE, key: ca.pem}
      scopes:
        - {namespaces: [team-a], svms: [svm1], volumes: [pve_images]}
      allowDeleteAdopted: true
    - name: ontap2-BACKEND
      endpoint: https://cluster2.example.com
      credentials: {existingSecret: ontap2-credentials}
      insecureSkipTLSVerify: true
"#;

fn full_values(namespace: &str, backend_suffix: &str) -> Values {
    Values::new(
        &FULL_VALUES
            .replace("RELEASE_NAMESPACE", namespace)
            .replace("BACKEND", backend_suffix),
    )
}

#[test]
fn helm_lint_passes_strict_with_default_and_full_values() {
    let chart = chart();
    let out = helm(&[
        "lint",
        "--strict",
        "--kube-version",
        kube_version(),
        chart.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let values = full_values("pve-ontap-system", "lint");
    let out = helm(&[
        "lint",
        "--strict",
        "--kube-version",
        kube_version(),
        "--namespace",
        "pve-ontap-system",
        "--values",
        values.0.path().to_str().unwrap(),
        chart.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn default_values_render_a_locked_down_single_replica() {
    let docs = render("pve-ontap", "pve-ontap-system", None);
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]),
        "no PodDisruptionBudget for one replica, no ServiceMonitor or backends by default"
    );
    // Secrets: `get` only, through a Role in the release namespace; nothing cluster-wide.
    assert_eq!(
        secret_grants(&docs),
        BTreeMap::from([("pve-ontap-system".to_owned(), vec!["get".to_owned()])])
    );
    assert_eq!(
        allowed_in_policy(&docs),
        ["pve-ontap-system"],
        "the admission policy allows the release namespace"
    );
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["serviceAccountName"],
        one(&docs, "ServiceAccount")["metadata"]["name"]
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );

    let c = container(&docs);
    assert_eq!(
        c["image"], "ghcr.io/pve-ontap/pve-ontap-controller:0.1.0",
        "tag defaults to appVersion"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    for kind in ["requests", "limits"] {
        assert!(
            c["resources"][kind]["memory"].is_string(),
            "resources.{kind}.memory is set"
        );
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["ports"][0]["name"], "metrics");
    let env: BTreeMap<String, Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e.clone()))
        .collect();
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );

    let service = one(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["port"],
        c["ports"][0]["containerPort"]
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn full_values_render_ha_monitoring_and_backends() {
    let values = full_values("pve-ontap-system", "render");
    let docs = render("pve-ontap", "pve-ontap-system", Some(&values));
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 2);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["interval"], "15s");
    assert_eq!(one(&docs, "Service")["spec"]["ports"][0]["port"], 9090);
    let rules = one(&docs, "PrometheusRule");
    assert_eq!(rules["metadata"]["labels"]["release"], "prometheus");
    let not_ready = rules["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "PveOntapObjectsNotReady")
        .expect("PveOntapObjectsNotReady");
    assert_eq!(not_ready["for"], "1h");
    assert_eq!(not_ready["labels"]["team"], "storage");
    assert_eq!(not_ready["labels"]["severity"], "warning");
    let dashboard = one(&docs, "ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboard["metadata"]["annotations"]["grafana_folder"],
        "Storage"
    );
    assert_eq!(
        container(&docs)["image"],
        "registry.example.com/pve-ontap-controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );

    // Backends reference the Secrets rendered next to them.
    let secrets: BTreeMap<&str, &Value> = find(&docs, "Secret")
        .into_iter()
        .map(|s| (s["metadata"]["name"].as_str().unwrap(), s))
        .collect();
    let pxc = one(&docs, "ProxmoxCluster");
    let creds = pxc["spec"]["credentialsSecretRef"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(
        secrets[creds]["stringData"]["token"],
        "k8s@pve!controller=5f0c"
    );
    assert_eq!(
        pxc["spec"]["credentialsSecretRef"]["namespace"],
        "pve-ontap-system"
    );
    let ca = &pxc["spec"]["caBundleSecretRef"];
    assert!(
        secrets[ca["name"].as_str().unwrap()]["stringData"][ca["key"].as_str().unwrap()]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(strings(&pxc["spec"]["allowedNamespaces"]), ["team-a"]);
    assert_eq!(strings(&pxc["spec"]["scopes"][0]["vmids"]), ["100-199"]);
    assert_eq!(strings(&pxc["spec"]["scopes"][0]["storages"]), ["ONTAP01"]);
    let ontap = find(&docs, "OntapCluster");
    assert_eq!(ontap.len(), 2);
    let first = ontap
        .iter()
        .find(|o| o["metadata"]["name"] == "ontap-render")
        .unwrap();
    assert_eq!(
        strings(&first["spec"]["scopes"][0]["volumes"]),
        ["pve_images"]
    );
    assert_eq!(first["spec"]["allowDeleteAdopted"], true);
    let creds = first["spec"]["credentialsSecretRef"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(secrets[creds]["stringData"]["username"], "pveontap");
    assert_eq!(first["spec"]["caBundleSecretRef"]["name"], "corp-ca");
    let second = ontap
        .iter()
        .find(|o| o["metadata"]["name"] == "ontap2-render")
        .unwrap();
    assert_eq!(
        second["spec"]["credentialsSecretRef"]["name"],
        "ontap2-credentials"
    );
    assert_eq!(second["spec"]["insecureSkipTLSVerify"], true);
    assert_eq!(
        secrets.len(),
        3,
        "no Secret for a backend using existingSecret: {:?}",
        secrets.keys()
    );

    // Secrets are readable (`get` only) just where rbac.secretNamespaces says.
    assert_eq!(
        secret_grants(&docs),
        BTreeMap::from([("pve-ontap-system".to_owned(), vec!["get".to_owned()])])
    );
}

/// Namespace → verbs on Secrets granted by the rendered Roles, each bound to the controller's ServiceAccount.
/// Fails when a ClusterRole mentions Secrets at all.
fn secret_grants(docs: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mentions_secrets = |r: &Value| {
        strings(&r["resources"])
            .iter()
            .any(|x| x == "secrets" || x == "*")
    };
    for cluster_role in find(docs, "ClusterRole") {
        assert!(
            !cluster_role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(mentions_secrets),
            "a ClusterRole grants access to Secrets: {cluster_role}"
        );
    }
    let service_account = one(docs, "ServiceAccount");
    let mut grants = BTreeMap::new();
    for role in find(docs, "Role") {
        let rules: Vec<&Value> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| mentions_secrets(r))
            .collect();
        if rules.is_empty() {
            continue;
        }
        let namespace = role["metadata"]["namespace"].as_str().unwrap().to_owned();
        let binding = find(docs, "RoleBinding")
            .into_iter()
            .find(|b| {
                b["metadata"]["namespace"] == role["metadata"]["namespace"]
                    && b["roleRef"]["name"] == role["metadata"]["name"]
            })
            .unwrap_or_else(|| panic!("no RoleBinding for {role}"));
        assert_eq!(
            binding["subjects"][0]["name"],
            service_account["metadata"]["name"]
        );
        assert_eq!(
            binding["subjects"][0]["namespace"],
            service_account["metadata"]["namespace"]
        );
        let verbs: Vec<String> = rules.iter().flat_map(|r| strings(&r["verbs"])).collect();
        assert!(
            grants.insert(namespace.clone(), verbs).is_none(),
            "two Secret Roles in {namespace}"
        );
    }
    grants
}

/// The namespaces the rendered ValidatingAdmissionPolicy allows in Secret references (from its CEL list).
fn allowed_in_policy(docs: &[Value]) -> Vec<String> {
    let policy = one(docs, "ValidatingAdmissionPolicy");
    let binding = one(docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(strings(&binding["spec"]["validationActions"]), ["Deny"]);
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    let validations = policy["spec"]["validations"].as_array().unwrap();
    assert_eq!(validations.len(), 2);
    let mut lists = BTreeSet::new();
    for (v, field) in validations
        .iter()
        .zip(["credentialsSecretRef", "caBundleSecretRef"])
    {
        let expression = v["expression"].as_str().unwrap();
        assert!(expression.contains(&format!("object.spec.{field}['namespace'] in [")));
        assert!(v["messageExpression"]
            .as_str()
            .unwrap()
            .contains(&format!("spec.{field}.namespace")));
        let list = &expression[expression.rfind('[').unwrap() + 1..expression.rfind(']').unwrap()];
        lists.insert(
            list.split(", ")
                .map(|n| n.trim_matches('\'').to_owned())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(lists.len(), 1, "both fields allow the same namespaces");
    lists.pop_first().unwrap()
}

#[test]
fn secret_access_and_admission_policy_follow_secret_namespaces() {
    let values = Values::new("rbac: {secretNamespaces: [pve-ontap-system, backends]}\n");
    let docs = render("pve-ontap", "pve-ontap-system", Some(&values));
    let get = vec!["get".to_owned()];
    assert_eq!(
        secret_grants(&docs),
        BTreeMap::from([
            ("backends".to_owned(), get.clone()),
            ("pve-ontap-system".to_owned(), get.clone()),
        ])
    );
    assert_eq!(allowed_in_policy(&docs), ["pve-ontap-system", "backends"]);

    let values =
        Values::new("admissionPolicy: {enabled: false}\nrbac: {secretNamespaces: [backends]}\n");
    let docs = render("pve-ontap", "pve-ontap-system", Some(&values));
    assert!(find(&docs, "ValidatingAdmissionPolicy").is_empty());
    assert!(find(&docs, "ValidatingAdmissionPolicyBinding").is_empty());
    assert_eq!(
        secret_grants(&docs),
        BTreeMap::from([("backends".to_owned(), get)])
    );
}

/// Parses a rendered container's arguments and environment with the binary's own flag definitions, so a
/// renamed or removed flag fails here instead of in a crash-looping pod.
fn parse_container(c: &Value) -> (Config, LeaderElectionArgs) {
    #[derive(Parser, Debug)]
    struct LeaderOnly {
        #[command(flatten)]
        leader: LeaderElectionArgs,
    }
    let mut config_args = vec!["pve-ontap-controller".to_owned()];
    config_args.extend(strings(&c["args"]));
    let mut leader_args = vec!["pve-ontap-controller".to_owned()];
    // Environment variables become the flags that read them (clap reads env only from the process).
    let config_env = env_flags(Config::command());
    let leader_env = env_flags(LeaderOnly::command());
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e["value"].as_str() {
            Some(v) => v.to_owned(),
            // Downward API values: any plausible value checks the flag exists.
            None => format!("from-{}", name.to_lowercase().replace('_', "-")),
        };
        let mut known = false;
        if let Some(flag) = leader_env.get(name) {
            leader_args.push(format!("--{flag}={value}"));
            known = true;
        }
        if let Some(flag) = config_env.get(name) {
            config_args.push(format!("--{flag}={value}"));
            known = true;
        }
        assert!(
            known,
            "the Deployment sets {name}, which no controller flag reads"
        );
    }
    let config =
        Config::try_parse_from(&config_args).unwrap_or_else(|e| panic!("{config_args:?}: {e}"));
    let leader = LeaderOnly::try_parse_from(&leader_args)
        .unwrap_or_else(|e| panic!("{leader_args:?}: {e}"))
        .leader;
    (config, leader)
}

fn env_flags(command: clap::Command) -> BTreeMap<String, String> {
    command
        .get_arguments()
        .filter_map(|a| Some((a.get_env()?.to_str()?.to_owned(), a.get_long()?.to_owned())))
        .collect()
}

#[test]
fn the_controller_accepts_the_rendered_arguments() {
    let docs = render("pve-ontap", "pve-ontap-system", None);
    let (config, leader) = parse_container(container(&docs));
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.log_level, "info");
    assert!(config.watch_namespaces.is_empty());
    assert!(config.cluster_id.is_none());
    assert!(config.leader_elect);
    assert_eq!(config.metrics_addr.port(), 8080);
    assert_eq!(leader.lease_name, "pve-ontap-pve-ontap-controller");
    assert_eq!(leader.namespace.as_deref(), Some("from-pod-namespace"));
    leader
        .settings("id".into(), "unused")
        .expect("default timing is valid");

    let values = full_values("pve-ontap-system", "args");
    let docs = render("ctl", "pve-ontap-system", Some(&values));
    let (config, leader) = parse_container(container(&docs));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.log_level, "pve_ontap_controller=debug,info");
    assert_eq!(config.watch_namespaces, ["team-a", "team-b"]);
    assert_eq!(config.cluster_id.as_deref(), Some("prod-eu-1"));
    assert_eq!(
        (
            config.vmdiskclone_workers,
            config.volumesnapshot_workers,
            config.flexclonemount_workers,
            config.backend_workers
        ),
        (7, 5, 3, 1)
    );
    assert_eq!(config.resync_seconds, 120);
    assert_eq!(config.fsfreeze_deadline_seconds, 5);
    assert_eq!(config.shutdown_timeout_seconds, 240);
    assert_eq!(config.metrics_addr.port(), 9090);
    assert!(config.leader_elect);
    assert_eq!(
        (
            leader.lease_name.as_str(),
            leader.lease_duration_seconds,
            leader.renew_deadline_seconds,
            leader.retry_period_seconds
        ),
        ("ctl-pve-ontap-controller", 20, 12, 3)
    );

    let values = Values::new("leaderElection: {enabled: false}\nreplicaCount: 1\n");
    let (config, _) = parse_container(container(&render(
        "pve-ontap",
        "pve-ontap-system",
        Some(&values),
    )));
    assert!(!config.leader_elect);
}

#[test]
fn bad_values_are_rejected_for_the_right_reason() {
    // (values, a fragment the error must contain)
    let cases: &[(&str, &str)] = &[
        ("logFormat: xml", "/logFormat"),
        ("logFormat: JSON", "/logFormat"),
        ("bogus: 1", "bogus"),
        ("replicaCount: -1", "/replicaCount"),
        ("replicaCount: two", "/replicaCount"),
        ("concurrency: {vmDiskClone: 0}", "/concurrency/vmDiskClone"),
        ("concurrency: {vmDiskClones: 4}", "vmDiskClones"),
        ("image: {repository: x, pullPolicy: Sometimes}", "/image/pullPolicy"),
        ("image: {repository: x, digest: latest}", "/image/digest"),
        ("metrics: {port: 80}", "/metrics/port"),
        ("metrics: {serviceMonitor: {interval: soon}}", "/metrics/serviceMonitor/interval"),
        ("watchNamespaces: [Team_A]", "/watchNamespaces/0"),
        ("resyncSeconds: 1", "/resyncSeconds"),
        ("leaderElection: {enabled: yes-please}", "/leaderElection/enabled"),
        ("rbac: {secretNamespaces: [UPPER]}", "/rbac/secretNamespaces/0"),
        // Template guards: consistent with the schema, not with each other.
        ("replicaCount: 2\nleaderElection: {enabled: false}", "needs leaderElection.enabled"),
        ("leaderElection: {leaseDurationSeconds: 10, renewDeadlineSeconds: 10}", "leaseDurationSeconds > renewDeadlineSeconds"),
        ("metrics: {service: {enabled: false}, serviceMonitor: {enabled: true}}", "needs metrics.service.enabled"),
        // Backends.
        (
            "backends: {proxmoxClusters: [{name: p, endpoints: ['http://pve:8006'], credentials: {token: 'a@b!c=d'}}]}",
            "/backends/proxmoxClusters/0/endpoints/0",
        ),
        ("backends: {proxmoxClusters: [{name: p, endpoints: ['https://pve:8006']}]}", "credentials"),
        (
            "backends: {proxmoxClusters: [{name: p, endpoints: ['https://pve:8006'], credentials: {username: u}}]}",
            "credentials need",
        ),
        (
            "backends: {proxmoxClusters: [{name: p, endpoints: ['https://pve:8006'], credentials: {token: 'not-a-token'}}]}",
            "/backends/proxmoxClusters/0/credentials/token",
        ),
        (
            "backends: {ontapClusters: [{name: o, endpoint: 'https://c', credentials: {token: 'a@b!c=d'}}]}",
            "token",
        ),
        (
            "backends: {ontapClusters: [{name: o, endpoint: 'https://c', credentials: {existingSecret: s, password: p}}]}",
            "excludes inline credentials",
        ),
        (
            "backends: {ontapClusters: [{name: o, endpoint: 'https://c', credentials: {existingSecret: s}, caBundle: '-----BEGIN CERTIFICATE-----', caBundleSecretRef: {name: a, namespace: b}}]}",
            "not both",
        ),
        (
            "rbac: {secretNamespaces: [elsewhere]}\nbackends: {ontapClusters: [{name: o, endpoint: 'https://c', credentials: {existingSecret: s}}]}",
            "does not list it",
        ),
    ];
    for (yaml, expected) in cases {
        let values = Values::new(yaml);
        let out = template("pve-ontap", "pve-ontap-system", Some(&values));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "values were accepted:\n{yaml}");
        assert!(
            stderr.contains(expected),
            "values\n{yaml}\nfailed, but not because of {expected:?}:\n{stderr}"
        );
    }
}

fn yaml_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn chart_crds_are_identical_to_crds_dir() {
    let top = yaml_files(&root().join("crds"));
    assert!(!top.is_empty(), "crds/ holds the generated CRDs");
    assert_eq!(
        yaml_files(&chart().join("crds")),
        top,
        "run scripts/render-deploy.sh to copy crds/ into the chart"
    );
}

#[test]
fn deploy_manifests_are_in_sync_with_the_chart() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(root().join("scripts/render-deploy.sh"))
        .arg(out_dir.path())
        .env("HELM", testkit::paths::helm_binary())
        .output()
        .expect("running scripts/render-deploy.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = yaml_files(out_dir.path());
    assert_eq!(
        yaml_files(&root().join("deploy")),
        fresh,
        "deploy/ is stale: run scripts/render-deploy.sh"
    );

    // Every manifest is part of the kustomization, and the CRDs in it are the chart's.
    let kustomization: Value = serde_yaml::from_str(&fresh["kustomization.yaml"]).unwrap();
    let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let files: BTreeSet<String> = fresh
        .keys()
        .filter(|f| *f != "kustomization.yaml")
        .cloned()
        .collect();
    assert_eq!(listed, files);
    let crds = documents(&fresh["10-crds.yaml"]);
    assert_eq!(crds.len(), yaml_files(&root().join("crds")).len());
    let kinds: BTreeSet<String> = fresh
        .iter()
        .filter(|(f, _)| *f != "kustomization.yaml")
        .flat_map(|(_, text)| documents(text))
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(kind), "deploy/ lacks a {kind}");
    }
    assert!(
        !fresh.values().any(|t| t.contains("helm.sh/chart")),
        "plain manifests carry no Helm labels"
    );
}

/// The full chart with non-default values, applied to the real apiserver: it validates every object (the
/// backends against our CRD schemas and CEL rules), not just the YAML shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_applies_to_the_apiserver() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, DeleteParams};
    use pve_ontap_controller::api::{OntapCluster, ProxmoxCluster};

    let _policies = ADMISSION_POLICIES.lock().await;
    let cp = testkit::shared().await.expect("control plane");
    let namespace = cp.create_namespace("chart").await.expect("namespace");
    let values = full_values(&namespace, &namespace);
    let docs = render(&namespace, &namespace, Some(&values));
    // No Prometheus Operator CRDs on the test apiserver.
    let docs: Vec<Value> = docs
        .into_iter()
        .filter(|d| d["kind"] != "ServiceMonitor" && d["kind"] != "PrometheusRule")
        .collect();
    let yaml = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let applied = cp
        .apply_yaml(&namespace, "chart with full values", &yaml)
        .await
        .expect("chart applies");
    assert_eq!(applied.len(), docs.len());

    let admin = cp.admin_client().await.expect("admin");
    let deployment = Api::<Deployment>::namespaced(admin.clone(), &namespace)
        .get(&format!("{namespace}-pve-ontap-controller"))
        .await
        .expect("Deployment");
    assert_eq!(deployment.spec.unwrap().replicas, Some(3));
    let pxc = Api::<ProxmoxCluster>::all(admin.clone())
        .get(&format!("pve-{namespace}"))
        .await
        .expect("ProxmoxCluster");
    let secret = &pxc.spec.credentials_secret_ref;
    let secret = Api::<Secret>::namespaced(admin.clone(), &secret.namespace)
        .get(&secret.name)
        .await
        .expect("Secret");
    assert!(secret.data.unwrap().contains_key("token"));
    for name in [format!("ontap-{namespace}"), format!("ontap2-{namespace}")] {
        Api::<OntapCluster>::all(admin.clone())
            .get(&name)
            .await
            .expect("OntapCluster");
        Api::<OntapCluster>::all(admin.clone())
            .delete(&name, &DeleteParams::default())
            .await
            .expect("cleanup");
    }
    Api::<ProxmoxCluster>::all(admin.clone())
        .delete(&pxc.metadata.name.unwrap(), &DeleteParams::default())
        .await
        .expect("cleanup");
    remove_admission_policy(
        &admin,
        &format!("{namespace}-pve-ontap-controller-secret-namespaces"),
    )
    .await;
}

/// `kubectl apply -k deploy/` as a user would run it, against the real apiserver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_dir_applies_with_kubectl() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::Api;

    let _policies = ADMISSION_POLICIES.lock().await;
    let cp = testkit::shared().await.expect("control plane");
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), cp.admin_kubeconfig()).unwrap();
    let kubectl = testkit::paths::kube_bin_dir().join("kubectl");
    let out = tokio::process::Command::new(&kubectl)
        .env("KUBECONFIG", kubeconfig.path())
        // Server-side: CRDs exceed the annotation size client-side apply needs; the CRDs are already installed by
        // the test kit's field manager, hence --force-conflicts (same content).
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=deploy-test",
            "-k",
        ])
        .arg(root().join("deploy"))
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", kubectl.display()));
    assert!(
        out.status.success(),
        "kubectl apply -k deploy/ failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = cp.admin_client().await.expect("admin");
    let deployment = Api::<Deployment>::namespaced(admin.clone(), "pve-ontap-system")
        .get("pve-ontap-controller")
        .await
        .expect("Deployment from deploy/");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("pve-ontap-controller")
    );
    // Its admission policy would confine every other test's backends to pve-ontap-system.
    remove_admission_policy(&admin, "pve-ontap-controller-secret-namespaces").await;
}

/// The chart's admission policy is cluster-wide: tests on the shared apiserver that install one (or create backends
/// one would reject) take this lock and remove their policy before releasing it.
static ADMISSION_POLICIES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A ProxmoxCluster whose Secret references name `credentials_ns` and `ca_ns`.
fn proxmox_cluster(
    name: &str,
    credentials_ns: &str,
    ca_ns: &str,
) -> pve_ontap_controller::api::ProxmoxCluster {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "pveontap.io/v1alpha1",
        "kind": "ProxmoxCluster",
        "metadata": { "name": name },
        "spec": {
            "endpoints": ["https://pve.example.com:8006"],
            "credentialsSecretRef": { "name": "pve-credentials", "namespace": credentials_ns },
            "caBundleSecretRef": { "name": "pve-ca", "namespace": ca_ns, "key": "ca.crt" },
        }
    }))
    .expect("ProxmoxCluster")
}

/// Creates `object` (dry-run when asked) and returns the apiserver's answer.
async fn create_backend(
    admin: &kube::Client,
    object: &pve_ontap_controller::api::ProxmoxCluster,
    dry_run: bool,
) -> Result<pve_ontap_controller::api::ProxmoxCluster, kube::Error> {
    let params = kube::api::PostParams {
        dry_run,
        ..Default::default()
    };
    kube::Api::all(admin.clone()).create(&params, object).await
}

/// Polls a dry-run create until the apiserver's admission answer for `object` is `rejected` (policies are
/// loaded from an informer, so they take effect a moment after they are written or deleted).
async fn wait_for_admission(
    admin: &kube::Client,
    object: &pve_ontap_controller::api::ProxmoxCluster,
    rejected: bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = create_backend(admin, object, true).await;
        if answer.is_err() == rejected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "admission of {:?} did not become rejected={rejected}: {answer:?}",
            object.metadata.name
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Deletes the chart's admission policy `name` and its binding and waits until it no longer rejects anything.
async fn remove_admission_policy(admin: &kube::Client, name: &str) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use kube::api::{Api, DeleteParams};
    let gone = |r: Result<_, kube::Error>| match r {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => panic!("deleting admission policy {name}: {e}"),
    };
    gone(
        Api::<ValidatingAdmissionPolicyBinding>::all(admin.clone())
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    );
    gone(
        Api::<ValidatingAdmissionPolicy>::all(admin.clone())
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    );
    let probe = proxmox_cluster("admission-probe", "admission-probe", "admission-probe");
    wait_for_admission(admin, &probe, false).await;
}

/// The chart's ValidatingAdmissionPolicy on the real apiserver confines backends' Secret references to the
/// secret namespaces, and the controller's RBAC lets it `get` Secrets there and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_policy_and_rbac_confine_secrets_to_the_secret_namespaces() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    use kube::api::{Api, DeleteParams, PostParams};
    use pve_ontap_controller::api::ProxmoxCluster;

    let _policies = ADMISSION_POLICIES.lock().await;
    let cp = testkit::shared().await.expect("control plane");
    let namespace = cp.create_namespace("vap").await.expect("namespace");
    let other = cp.create_namespace("vap-other").await.expect("namespace");
    let render = testkit::Render::new(&namespace, &namespace)
        .show_only(testkit::chart::RBAC_TEMPLATES)
        .show_only(&["templates/admissionpolicy.yaml"]);
    let identity = testkit::ChartIdentity::install_rendered(cp, render)
        .await
        .expect("chart identity and admission policy");
    let admin = cp.admin_client().await.expect("admin");
    let policy = format!("{namespace}-pve-ontap-controller-secret-namespaces");

    // Credentials in a foreign namespace: rejected at admission, naming the field and the allowed namespaces.
    let foreign = proxmox_cluster(&format!("{namespace}-foreign"), &other, &namespace);
    wait_for_admission(&admin, &foreign, true).await;
    let error = create_backend(&admin, &foreign, false)
        .await
        .expect_err("credentials in a foreign namespace are rejected");
    let message = error.to_string();
    assert!(
        message.contains("spec.credentialsSecretRef.namespace")
            && message.contains(&other)
            && message.contains(&format!("[{namespace}]")),
        "{message}"
    );
    // The same for the CA bundle.
    let foreign_ca = proxmox_cluster(&format!("{namespace}-foreign-ca"), &namespace, &other);
    let error = create_backend(&admin, &foreign_ca, false)
        .await
        .expect_err("a CA bundle in a foreign namespace is rejected");
    assert!(
        error
            .to_string()
            .contains("spec.caBundleSecretRef.namespace"),
        "{error}"
    );

    // Both references in the allowed namespace: accepted; moving one elsewhere by update: rejected.
    let allowed = proxmox_cluster(&format!("{namespace}-allowed"), &namespace, &namespace);
    let created = create_backend(&admin, &allowed, false)
        .await
        .expect("references in the allowed namespace are accepted");
    let api: Api<ProxmoxCluster> = Api::all(admin.clone());
    let mut moved = created.clone();
    moved.spec.credentials_secret_ref.namespace = other.clone();
    let error = api
        .replace(
            &created.metadata.name.clone().unwrap(),
            &PostParams::default(),
            &moved,
        )
        .await
        .expect_err("an update to a foreign namespace is rejected");
    assert!(
        error
            .to_string()
            .contains("spec.credentialsSecretRef.namespace"),
        "{error}"
    );
    api.delete(&created.metadata.name.unwrap(), &DeleteParams::default())
        .await
        .expect("cleanup");

    // RBAC: the controller gets Secrets in its namespace, and can neither list/watch them nor get them elsewhere.
    let user = format!(
        "system:serviceaccount:{}:{}",
        identity.namespace, identity.service_account
    );
    let reviews: Api<SubjectAccessReview> = Api::all(admin.clone());
    let allowed = |verb: &str, namespace: Option<&str>| {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.clone()),
                groups: Some(vec![
                    "system:serviceaccounts".into(),
                    "system:authenticated".into(),
                ]),
                resource_attributes: Some(ResourceAttributes {
                    resource: Some("secrets".into()),
                    verb: Some(verb.into()),
                    namespace: namespace.map(str::to_owned),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviews = reviews.clone();
        async move {
            reviews
                .create(&PostParams::default(), &review)
                .await
                .expect("SubjectAccessReview")
                .status
                .is_some_and(|s| s.allowed)
        }
    };
    assert!(
        allowed("get", Some(&namespace)).await,
        "get in its namespace"
    );
    for (verb, ns) in [
        ("list", Some(namespace.as_str())),
        ("watch", Some(namespace.as_str())),
        ("list", None),
        ("get", None),
        ("get", Some(other.as_str())),
        ("get", Some("kube-system")),
        ("create", Some(namespace.as_str())),
    ] {
        assert!(
            !allowed(verb, ns).await,
            "the controller may {verb} Secrets in {ns:?}"
        );
    }

    remove_admission_policy(&admin, &policy).await;
}

/// Table rows of docs/install.md: `| `key` | `default` | ... |` → key → default (JSON).
fn documented_values(doc: &str) -> BTreeMap<String, Value> {
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let key = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            if key.starts_with("pveontap_") {
                return None;
            }
            let default = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let default =
                serde_json::from_str(default).unwrap_or_else(|e| panic!("default of {key}: {e}"));
            Some((key.to_owned(), default))
        })
        .collect()
}

#[test]
fn every_values_key_is_documented_with_its_default() {
    let doc = std::fs::read_to_string(root().join("docs/install.md")).expect("docs/install.md");
    let documented = documented_values(&doc);
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();

    // Walk values.yaml; a documented key covers everything below it (e.g. `resources`).
    fn walk(
        path: &str,
        value: &Value,
        documented: &BTreeMap<String, Value>,
        missing: &mut Vec<String>,
    ) {
        if let Some(default) = documented.get(path) {
            assert_eq!(
                default, value,
                "docs/install.md: the default of `{path}` differs from values.yaml"
            );
            return;
        }
        match value.as_object() {
            Some(map) if !map.is_empty() => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(&child_path, child, documented, missing);
                }
            }
            _ => missing.push(path.to_owned()),
        }
    }
    let mut missing = Vec::new();
    walk("", &values, &documented, &mut missing);
    assert!(
        missing.is_empty(),
        "values.yaml keys missing from docs/install.md: {missing:?}"
    );

    // And nothing documented that values.yaml lacks.
    for key in documented.keys() {
        let found = key.split('.').try_fold(&values, |v, part| v.get(part));
        assert!(
            found.is_some(),
            "docs/install.md documents `{key}`, which values.yaml does not have"
        );
    }
}

#[test]
fn every_metric_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/install.md")).expect("docs/install.md");
    let metrics = pve_ontap_controller::metrics::Metrics::new();
    // Families without samples are not encoded, so the names come from what was registered.
    let registered = metrics.family_names();
    assert!(!registered.is_empty(), "no metric families registered");

    // Rows: | `pveontap_x_total` | counter | ... — counters are queried with the `_total` suffix.
    let mut documented = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `pveontap_")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let name = cells[0].trim_start_matches("| `").trim_end_matches('`');
        let kind = cells[1].trim();
        let base = if kind == "counter" {
            name.strip_suffix("_total")
                .unwrap_or_else(|| panic!("counter {name} must be documented with _total"))
        } else {
            name
        };
        documented.insert(base.to_owned(), kind.to_owned());
    }
    assert_eq!(
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        registered,
        "the metrics table in docs/install.md must list exactly the registered metrics"
    );

    // Families that have samples show their type: it must match the table.
    drop(metrics.reconcile_started("VmDiskClone"));
    metrics.reconcile_failed("VmDiskClone", "OntapTransient");
    metrics.phase_changed("VmDiskClone", "Ready");
    let text = metrics.encode().expect("encode");
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap();
        assert_eq!(
            documented.get(name).map(String::as_str),
            Some(kind),
            "type of {name}"
        );
    }
}

#[test]
fn dockerfile_copies_the_binary_cargo_builds_and_runs_it_as_non_root() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    // The controller binary as cargo names it.
    let metadata = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata");
    assert!(
        metadata.status.success(),
        "{}",
        String::from_utf8_lossy(&metadata.stderr)
    );
    let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pve-ontap-controller")
        .expect("controller package");
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| strings(&t["kind"]).contains(&"bin".to_owned()))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let binary = package["default_run"]
        .as_str()
        .expect("default-run names the controller binary");
    assert!(
        bins.contains(&binary),
        "{binary} is not a bin target: {bins:?}"
    );

    let build = dockerfile
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build step");
    let build_cmd = dockerfile[dockerfile.find(build).unwrap()..]
        .split("&&")
        .next()
        .unwrap()
        .to_owned();
    for flag in [
        "--release",
        "--locked",
        &format!("--bin {binary}"),
        "-p pve-ontap-controller",
    ] {
        assert!(
            build_cmd.contains(flag),
            "the build step lacks {flag}: {build_cmd}"
        );
    }
    // cargo build --release puts a bin target at target/release/<name>.
    assert!(
        dockerfile.contains(&format!("target/release/{binary} ")),
        "the Dockerfile copies target/release/{binary}"
    );
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage build");
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let entrypoint = runtime
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec-form ENTRYPOINT");
    // The runtime stage copies the builder's binary to exactly the path it runs.
    let copy = runtime
        .lines()
        .find(|l| l.starts_with("COPY --from=builder"))
        .expect("COPY --from=builder");
    assert!(
        copy.ends_with(&format!("/{binary} {}", entrypoint[0])),
        "{copy} vs ENTRYPOINT {entrypoint:?}"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("numeric USER (runAsNonRoot needs a UID)");
    assert_ne!(uid, 0);
    // The chart runs the image as the same UID.
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    assert_eq!(values["podSecurityContext"]["runAsUser"], uid);
    // The builder's Rust is at least the workspace's rust-version.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let required = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let builder = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let version = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        version(builder) >= version(required),
        "builder Rust {builder} < rust-version {required}"
    );
}
