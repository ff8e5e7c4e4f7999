//! High availability with real processes: two controller binaries run as the Helm chart runs them (the chart's
//! ServiceAccount kubeconfig, `--leader-elect`, distinct instance names) against the simulator. The leader process
//! is SIGKILLed while a VmDiskClone has VM 100 paused; the standby takes the Lease over once it expires, resumes
//! the VM and completes the clone, and nothing is done twice (suspend/resume paired, one FileClone, one attach).

mod controller_support;
mod failover_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use controller_support::{vm, Harness, WAIT};
use failover_support::{
    assert_finished_once, create_held_suspend_clone, lease_holder, vm100_paused, CLONE,
};
use kube::Client;
use pve_ontap_controller::api::VmDiskClone;
use pve_ontap_controller::leader::DEFAULT_LEASE_NAME;
use testkit::process::Component;

/// Short lease timings so the takeover happens quickly; the assertions never depend on them.
const LEASE_DURATION_SECONDS: &str = "6";
const RENEW_DEADLINE_SECONDS: &str = "4";
const RETRY_PERIOD_SECONDS: &str = "1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One replica: the controller binary with leader election, logging to `dir/<instance>.log`.
fn spawn_replica(kubeconfig: &Path, namespace: &str, instance: &str, dir: &Path) -> Component {
    let log: PathBuf = dir.join(format!("{instance}.log"));
    Component::spawn(
        "pve-ontap-controller",
        Path::new(env!("CARGO_BIN_EXE_pve-ontap-controller")),
        &[
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{}", free_port()),
            "--watch-namespaces".into(),
            namespace.to_owned(),
            "--log-level".into(),
            "info".into(),
            "--leader-elect".into(),
            "--leader-election-namespace".into(),
            namespace.to_owned(),
            "--leader-election-lease-duration-seconds".into(),
            LEASE_DURATION_SECONDS.into(),
            "--leader-election-renew-deadline-seconds".into(),
            RENEW_DEADLINE_SECONDS.into(),
            "--leader-election-retry-period-seconds".into(),
            RETRY_PERIOD_SECONDS.into(),
            "--instance".into(),
            instance.to_owned(),
        ],
        log,
    )
    .expect("spawn controller")
}

async fn holder(admin: &Client, namespace: &str) -> Option<String> {
    lease_holder(admin, namespace, DEFAULT_LEASE_NAME).await
}

/// Instance name of a holder identity (`<instance>_<unique suffix>`).
fn instance_of(holder: &str) -> &str {
    holder.split_once('_').map_or(holder, |(i, _)| i)
}

fn logs(replicas: &[&Component]) -> String {
    replicas
        .iter()
        .map(|c| {
            format!(
                "--- {} ---\n{}",
                c.log.display(),
                std::fs::read_to_string(&c.log).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn wait_until<F, Fut>(what: &str, replicas: &[&Component], mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs(replicas)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGKILL: no Lease release, no graceful shutdown, as a node loss looks to the rest of the world.
fn sigkill(c: &Component) {
    let pid = c.pid().expect("running child");
    // kill(1) rather than a libc dependency; the child is not reaped yet (Component reaps only on stop/drop), so
    // the pid is still ours.
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_process_takes_over_a_killed_leader_and_finishes_its_work_once() {
    let mut h = Harness::start("haproc").await;
    // The harness runs an in-process controller; this test runs two controller processes instead.
    h.kill_controller();
    let cp = testkit::shared().await.expect("control plane");
    let identity = testkit::ChartIdentity::install(cp, &h.ns, &h.ns)
        .await
        .expect("chart identity");
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        identity.kubeconfig(cp).await.expect("kubeconfig"),
    )
    .expect("write kubeconfig");

    let mut a = spawn_replica(&kubeconfig, &h.ns, "replica-a", tmp.path());
    let mut b = spawn_replica(&kubeconfig, &h.ns, "replica-b", tmp.path());
    wait_until("a leader", &[&a, &b], || async {
        holder(&h.admin, &h.ns).await.is_some()
    })
    .await;
    let leader_holder = holder(&h.admin, &h.ns).await.unwrap();
    let (leader, follower, follower_instance) = match instance_of(&leader_holder) {
        "replica-a" => (&mut a, &mut b, "replica-b"),
        "replica-b" => (&mut b, &mut a, "replica-a"),
        other => panic!("unexpected Lease holder {other:?}"),
    };

    // Hold the FileClone so the leader dies while the VM is paused for it.
    create_held_suspend_clone(&h, 10_000).await;
    wait_until(
        "the VM paused by the leader",
        &[&*leader, &*follower],
        || vm100_paused(&h),
    )
    .await;
    follower
        .check_running()
        .expect("the standby waits for the Lease");

    sigkill(leader);
    // Reap it: the process is gone before anything else happens.
    leader.stop();
    assert_eq!(
        vm(&h.inventory().await, 100).unwrap()["qmpstatus"],
        "paused",
        "the killed leader left the VM paused"
    );

    // The standby acquires the Lease once it expires (lease duration, plus a generous margin for a busy machine).
    wait_until("the standby to take the Lease", &[&*follower], || async {
        holder(&h.admin, &h.ns)
            .await
            .is_some_and(|hold| instance_of(&hold) == follower_instance)
    })
    .await;

    assert_finished_once(&h).await;

    h.delete_and_wait::<VmDiskClone>(CLONE).await;
    follower
        .check_running()
        .expect("the new leader kept running");
    follower.stop();
    h.finish().await;
}
