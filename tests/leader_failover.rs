//! High availability end to end: two controller replicas elect a leader through the Lease, both under the Helm
//! chart's ServiceAccount, against the simulator. The leader is killed while a VmDiskClone has the VM paused; the
//! standby takes over once the Lease expires, resumes the VM and completes the clone, and nothing is done twice
//! (one suspend, one resume, one completed FileClone). Until the takeover only the leader acts.

mod controller_support;
mod failover_support;

use std::sync::Arc;
use std::time::Duration;

use controller_support::{vm, Harness, WAIT};
use failover_support::{
    assert_finished_once, create_held_suspend_clone, lease_holder, vm100_paused, CLONE,
};
use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use kube::Client;
use pve_ontap_controller::api::VmDiskClone;
use pve_ontap_controller::controller::context::Settings;
use pve_ontap_controller::controller::runtime;
use pve_ontap_controller::leader::{LeaderElector, LeaseSettings};
use pve_ontap_controller::metrics::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const LEASE: &str = "pve-ontap-controller";

/// One controller replica as main.rs runs it: wait for leadership, reconcile until it is lost.
fn replica(
    client: Client,
    namespace: &str,
    identity: &str,
    mut settings: Settings,
) -> JoinHandle<()> {
    settings.instance = Some(identity.to_owned());
    let lease = LeaseSettings {
        namespace: namespace.to_owned(),
        name: LEASE.into(),
        identity: identity.to_owned(),
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(200),
    }
    .validated()
    .expect("lease settings");
    tokio::spawn(async move {
        let never = CancellationToken::new();
        let Some(leadership) = LeaderElector::new(client.clone(), lease)
            .acquire(&never)
            .await
        else {
            return;
        };
        let work = leadership.lost_token().child_token();
        runtime::run(client, settings, Arc::new(Metrics::new()), work)
            .await
            .expect("controller runtime");
    })
}

async fn holder(admin: &Client, namespace: &str) -> Option<String> {
    lease_holder(admin, namespace, LEASE).await
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `reportingInstance` of every Event about `name`.
async fn reporters(admin: &Client, namespace: &str, name: &str) -> Vec<String> {
    Api::<Event>::namespaced(admin.clone(), namespace)
        .list(&Default::default())
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| e.reporting_instance.unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_a_killed_leader_and_finishes_its_work_once() {
    // RUST_LOG=pve_ontap_controller=debug shows both replicas' logs on failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let mut h = Harness::start("ha").await;
    // The harness runs a controller of its own; this test runs two replicas under leader election instead.
    // (Aborted rather than stopped: a graceful stop right after start can wait on the first backend reconciles.)
    h.kill_controller();
    let cp = testkit::shared().await.expect("control plane");
    let identity = testkit::ChartIdentity::install(cp, &h.ns, &h.ns)
        .await
        .expect("chart identity");

    let settings = h.settings();
    let a = replica(
        identity.client(cp).await.expect("client a"),
        &h.ns,
        "replica-a",
        settings.clone(),
    );
    let b = replica(
        identity.client(cp).await.expect("client b"),
        &h.ns,
        "replica-b",
        settings,
    );
    wait_until("a leader", || async {
        holder(&h.admin, &h.ns).await.is_some()
    })
    .await;
    let leader_id = holder(&h.admin, &h.ns).await.unwrap();
    let (mut leader, follower, follower_id) = if leader_id == "replica-a" {
        (a, b, "replica-b")
    } else {
        (b, a, "replica-a")
    };

    // Hold the FileClone so the leader dies while the VM is paused for it.
    create_held_suspend_clone(&h, 4000).await;
    wait_until("the VM paused by the leader", || vm100_paused(&h)).await;

    // So far only the leader has acted.
    let before = reporters(&h.admin, &h.ns, CLONE).await;
    assert!(!before.is_empty(), "the leader reported its steps");
    assert!(
        before.iter().all(|r| *r == leader_id),
        "only the leader acts: {before:?}"
    );
    assert!(!follower.is_finished());

    // A crash: no release, no graceful shutdown, the VM stays paused.
    leader.abort();
    let _ = (&mut leader).await;
    assert_eq!(
        vm(&h.inventory().await, 100).unwrap()["qmpstatus"],
        "paused"
    );

    assert_finished_once(&h).await;
    assert_eq!(holder(&h.admin, &h.ns).await.as_deref(), Some(follower_id));
    assert!(
        reporters(&h.admin, &h.ns, CLONE)
            .await
            .iter()
            .any(|r| r == follower_id),
        "the successor finished"
    );

    h.delete_and_wait::<VmDiskClone>(CLONE).await;
    follower.abort();
    h.finish().await;
}
