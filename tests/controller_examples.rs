//! deploy/examples/ applied as they are (only the endpoints point at this test's simulator): every kind Ready,
//! except the restore example, which is a plan only and waits while VM 100 runs.

mod controller_support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use pve_ontap_controller::api::{
    FlexCloneMount, Phase, VmDiskClone, VolumeSnapshot, VolumeSnapshotRestore,
    VolumeSnapshotSchedule,
};
use pve_ontap_controller::controller::context::Settings;
use pve_ontap_controller::controller::runtime;
use pve_ontap_controller::metrics::Metrics;
use pve_ontap_sim::SimOptions;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use controller_support::WAIT;

async fn wait_ready<K>(api: &Api<K>, name: &str, phase: impl Fn(&K) -> Option<Phase>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let o = api.get(name).await.unwrap();
        if phase(&o) == Some(Phase::Ready) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} not Ready: {}",
            serde_json::to_string_pretty(&o).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_become_ready() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cp = testkit::shared().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sim = pve_ontap_sim::start(SimOptions::ephemeral(tmp.path().join("tls")))
        .await
        .unwrap();

    let dir = testkit::paths::workspace_root().join("deploy/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let ns_file = files
        .iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("00-"))
        .unwrap()
        .clone();
    cp.apply_yaml(
        "default",
        "namespaces",
        &std::fs::read_to_string(&ns_file).unwrap(),
    )
    .await
    .unwrap();

    let admin = cp.admin_client().await.unwrap();
    let ca: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "pve-ontap-sim-ca", "namespace": "pve-ontap-system" },
        "stringData": { "ca.crt": sim.ca_pem() },
    }))
    .unwrap();
    Api::<Secret>::namespaced(admin.clone(), "pve-ontap-system")
        .create(&PostParams::default(), &ca)
        .await
        .unwrap();

    for f in files.iter().filter(|p| *p != &ns_file) {
        let text = std::fs::read_to_string(f)
            .unwrap()
            .replace("https://127.0.0.1:8006", &sim.pve_url())
            .replace("https://127.0.0.1:8443", &sim.ontap_url());
        cp.apply_yaml("pve-ontap-demo", &f.display().to_string(), &text)
            .await
            .unwrap();
    }

    let identity = testkit::ChartIdentity::install(cp, "pve-ontap-system", "pve-ontap-examples")
        .await
        .unwrap();
    let client = identity.client(cp).await.unwrap();
    let mut settings = Settings::new("examples-test");
    settings.namespaces = vec!["pve-ontap-demo".into()];
    settings.backoff_base = Duration::from_millis(200);
    settings.backoff_max = Duration::from_secs(3);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let controller = tokio::spawn(async move {
        runtime::run(client, settings, Arc::new(Metrics::new()), token)
            .await
            .unwrap();
    });

    let vdc: Api<VmDiskClone> = Api::namespaced(admin.clone(), "pve-ontap-demo");
    let ovs: Api<VolumeSnapshot> = Api::namespaced(admin.clone(), "pve-ontap-demo");
    let fcm: Api<FlexCloneMount> = Api::namespaced(admin.clone(), "pve-ontap-demo");
    wait_ready(&vdc, "web01-before-upgrade", |o| {
        o.status.as_ref().map(|s| s.phase)
    })
    .await;
    wait_ready(&ovs, "ontap01-nightly", |o| {
        o.status.as_ref().map(|s| s.phase)
    })
    .await;
    wait_ready(&fcm, "ontap01-nightly-mount", |o| {
        o.status.as_ref().map(|s| s.phase)
    })
    .await;
    let vss: Api<VolumeSnapshotSchedule> = Api::namespaced(admin.clone(), "pve-ontap-demo");
    wait_ready(&vss, "ontap01-nightly", |o| {
        o.status.as_ref().map(|s| s.phase)
    })
    .await;
    // The restore example shows its plan and changes nothing while VM 100 runs.
    let vsr: Api<VolumeSnapshotRestore> = Api::namespaced(admin.clone(), "pve-ontap-demo");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let st = vsr
            .get("ontap01-rollback")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        let waiting = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == "VmsRunning");
        if waiting {
            let stops: Vec<u32> = st.plan.unwrap().stops.iter().map(|v| v.vmid).collect();
            assert_eq!(stops, [100]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "restore example: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    shutdown.cancel();
    controller.await.unwrap();
    sim.shutdown().await;
}
