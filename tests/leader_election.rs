//! Leader election on a real kube-apiserver, run under the Helm chart's ServiceAccount (so the chart's Lease
//! Role is exercised too): one of several candidates leads, a crashed leader is replaced once its Lease
//! expires, a released Lease is taken over at once, and a leader whose Lease is taken notices and gives up.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use pve_ontap_controller::leader::{LeaderElector, Leadership, LeaseSettings};
use testkit::Tenant;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const LEASE: &str = "pve-ontap-controller";
const LEASE_DURATION: Duration = Duration::from_secs(3);
/// Bounds of "eventually": generous multiples of the lease timing, so a slow CI machine cannot fail a test
/// that a correct implementation passes, while a broken one (never taking over) still fails.
const PATIENCE: Duration = Duration::from_secs(30);

struct Setup {
    namespace: String,
    admin: Client,
    controller: Client,
}

async fn setup(prefix: &str) -> Setup {
    let control_plane = testkit::shared().await.expect("control plane");
    let t = Tenant::create(control_plane, prefix).await.expect("tenant");
    Setup {
        namespace: t.namespace,
        admin: t.admin,
        controller: t.controller,
    }
}

fn settings(namespace: &str, identity: &str) -> LeaseSettings {
    LeaseSettings {
        namespace: namespace.into(),
        name: LEASE.into(),
        identity: identity.into(),
        lease_duration: LEASE_DURATION,
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(200),
    }
    .validated()
    .expect("valid settings")
}

fn candidate(
    setup: &Setup,
    identity: &str,
    cancel: &CancellationToken,
) -> JoinHandle<Option<Leadership>> {
    let elector = LeaderElector::new(
        setup.controller.clone(),
        settings(&setup.namespace, identity),
    );
    let cancel = cancel.clone();
    tokio::spawn(async move { elector.acquire(&cancel).await })
}

async fn lease(setup: &Setup) -> Lease {
    Api::<Lease>::namespaced(setup.admin.clone(), &setup.namespace)
        .get(LEASE)
        .await
        .expect("Lease")
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref().and_then(|s| s.holder_identity.clone())
}

fn transitions(lease: &Lease) -> i32 {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0)
}

/// Waits until the Lease's renewTime changed `count` times: proof that the holder is actively renewing, and
/// long enough (count × retry period) for a waiting candidate to have tried repeatedly.
async fn wait_for_renewals(setup: &Setup, count: usize) {
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while seen.len() < count {
            let renew = lease(setup).await.spec.and_then(|s| s.renew_time);
            if seen.last() != Some(&renew) {
                seen.push(renew);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the leader keeps renewing its Lease");
}

/// Waits for the first of two candidates to lead; returns (leader, its identity, the other's task, its identity).
async fn first_leader(
    a: JoinHandle<Option<Leadership>>,
    b: JoinHandle<Option<Leadership>>,
) -> (
    Leadership,
    &'static str,
    JoinHandle<Option<Leadership>>,
    &'static str,
) {
    let (mut a, mut b) = (a, b);
    tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            won = &mut a => (won.expect("task").expect("leads"), "a", b, "b"),
            won = &mut b => (won.expect("task").expect("leads"), "b", a, "a"),
        }
    })
    .await
    .expect("one candidate acquires the Lease")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_candidate_leads_and_a_crashed_leader_is_replaced_after_the_lease_expires() {
    let setup = setup("leader-crash").await;
    let cancel = CancellationToken::new();
    let (leader, leader_id, follower, follower_id) = first_leader(
        candidate(&setup, "a", &cancel),
        candidate(&setup, "b", &cancel),
    )
    .await;
    assert_eq!(holder(&lease(&setup).await).as_deref(), Some(leader_id));

    // While the leader renews, the other candidate keeps waiting however often it retries.
    wait_for_renewals(&setup, 5).await;
    assert!(
        !follower.is_finished(),
        "{follower_id} must not lead while {leader_id} renews"
    );
    assert!(!leader.is_lost());
    let before = transitions(&lease(&setup).await);

    // A crash: renewing stops and the Lease is not released.
    drop(leader);
    let successor = tokio::time::timeout(PATIENCE, follower)
        .await
        .expect("the follower takes over once the Lease expires")
        .expect("task")
        .expect("leads");
    let after = lease(&setup).await;
    assert_eq!(holder(&after).as_deref(), Some(follower_id));
    assert_eq!(transitions(&after), before + 1);
    assert!(!successor.is_lost());
    successor.release().await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_without_waiting_for_expiry() {
    let setup = setup("leader-release").await;
    let cancel = CancellationToken::new();
    let (leader, _, follower, follower_id) = first_leader(
        candidate(&setup, "a", &cancel),
        candidate(&setup, "b", &cancel),
    )
    .await;
    leader.release().await.expect("release");

    // Released: a follower that has been watching the Lease all along acquires it on its next attempt instead
    // of waiting out the lease duration (it has observed the old record for less than that, since the leader
    // renewed it a moment ago). The bound is generous; the holder check is the point.
    let successor = tokio::time::timeout(LEASE_DURATION * 3, follower)
        .await
        .expect("the follower takes over a released Lease")
        .expect("task")
        .expect("leads");
    assert_eq!(holder(&lease(&setup).await).as_deref(), Some(follower_id));
    successor.release().await.expect("release");
    let released = lease(&setup).await;
    assert_eq!(holder(&released), None, "release empties the holder");
    assert_eq!(
        released.spec.and_then(|s| s.lease_duration_seconds),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_reports_the_loss() {
    let setup = setup("leader-lost").await;
    let cancel = CancellationToken::new();
    let leader = tokio::time::timeout(PATIENCE, candidate(&setup, "a", &cancel))
        .await
        .expect("acquires an absent Lease")
        .expect("task")
        .expect("leads");
    let mut watch = leader.watch();
    assert!(*watch.borrow());

    // Someone else (here: an admin) writes itself into the Lease.
    let api = Api::<Lease>::namespaced(setup.admin.clone(), &setup.namespace);
    let mut current = api.get(LEASE).await.expect("Lease");
    let spec = current.spec.as_mut().expect("spec");
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    api.replace(LEASE, &PostParams::default(), &current)
        .await
        .expect("take the Lease");

    tokio::time::timeout(PATIENCE, leader.lost())
        .await
        .expect("the leader notices the loss");
    assert!(leader.is_lost());
    watch.changed().await.expect("watch update");
    assert!(!*watch.borrow());
    // Giving up must not write: the intruder keeps the Lease.
    leader
        .release()
        .await
        .expect("release after loss is a no-op");
    assert_eq!(holder(&lease(&setup).await).as_deref(), Some("intruder"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_stops_when_cancelled() {
    let setup = setup("leader-cancel").await;
    let cancel = CancellationToken::new();
    let leader = tokio::time::timeout(PATIENCE, candidate(&setup, "a", &cancel))
        .await
        .expect("acquires")
        .expect("task")
        .expect("leads");
    let waiting_cancel = CancellationToken::new();
    let waiting = candidate(&setup, "b", &waiting_cancel);
    wait_for_renewals(&setup, 2).await;
    waiting_cancel.cancel();
    let outcome = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("returns")
        .expect("task");
    assert!(
        outcome.is_none(),
        "a cancelled candidate returns without leadership"
    );
    assert_eq!(holder(&lease(&setup).await).as_deref(), Some("a"));
    leader.release().await.expect("release");
}
