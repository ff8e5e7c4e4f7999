//! The controller binary as the chart runs it: kubeconfig of the chart's ServiceAccount, health and metrics
//! endpoints, JSON logs.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_health_readiness_and_metrics() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cp = testkit::shared().await.unwrap();
    let ns = cp.create_namespace("binary").await.unwrap();
    let identity = testkit::ChartIdentity::install(cp, &ns, &ns).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(&kubeconfig, identity.kubeconfig(cp).await.unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tmp.path().join("controller.log");
    let _child = testkit::process::Component::spawn(
        "pve-ontap-controller",
        std::path::Path::new(env!("CARGO_BIN_EXE_pve-ontap-controller")),
        &[
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
            "--watch-namespaces".into(),
            ns.clone(),
            "--log-format".into(),
            "json".into(),
            // As the chart runs it: leader election on a Lease in the release namespace.
            "--leader-elect".into(),
            "--leader-election-namespace".into(),
            ns.clone(),
            "--instance".into(),
            "binary-test-pod".into(),
        ],
        log.clone(),
    )
    .unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ok = matches!(http.get(format!("{base}/readyz")).send().await, Ok(r) if r.status().is_success());
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "controller never ready; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    // A backend whose Secret is missing: one failed reconcile shows in the metrics by error category.
    let admin = cp.admin_client().await.unwrap();
    let pc: pve_ontap_controller::api::ProxmoxCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "ProxmoxCluster",
        "metadata": { "name": format!("{ns}-nowhere") },
        "spec": {
            "endpoints": ["https://127.0.0.1:9"],
            "credentialsSecretRef": { "name": "missing", "namespace": ns },
            "allowedNamespaces": [ns],
        }
    }))
    .unwrap();
    kube::Api::<pve_ontap_controller::api::ProxmoxCluster>::all(admin.clone())
        .create(&Default::default(), &pc)
        .await
        .unwrap();
    let wanted =
        r#"pveontap_reconcile_errors_total{kind="ProxmoxCluster",category="SecretInvalid"}"#;
    let metrics = loop {
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains(wanted) {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline + Duration::from_secs(30),
            "{wanted} missing:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        metrics.contains(r#"pveontap_reconciles_total{kind="ProxmoxCluster"}"#),
        "{metrics}"
    );
    assert!(
        metrics.trim_end().ends_with("# EOF"),
        "OpenMetrics text: {metrics}"
    );
    // Reconciles only run under leadership: the Lease names this process.
    let lease = kube::Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(admin, &ns)
        .get(pve_ontap_controller::leader::DEFAULT_LEASE_NAME)
        .await
        .expect("the controller holds a Lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(holder.starts_with("binary-test-pod_"), "holder {holder:?}");
    let logs = std::fs::read_to_string(&log).unwrap();
    let first = logs.lines().next().expect("a log line");
    let parsed: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("JSON log ({e}): {first}"));
    assert!(parsed.get("level").is_some(), "{first}");
}
