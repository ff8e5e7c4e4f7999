//! The ONTAP client against the simulator over real HTTPS: every method, error classification, job polling and
//! CA trust.

use std::path::PathBuf;
use std::time::Duration;

use pve_ontap_controller::ontap::types::{Completion, FlexCloneSpec, VolumePatch};
use pve_ontap_controller::ontap::{OntapClient, OntapConfig, OntapError};
use pve_ontap_sim::{RunningSim, Scenario, ScenarioSource, SimOptions};
use serde_json::{json, Value};

const USER: &str = "admin";
const PASSWORD: &str = "netapp123";

struct Env {
    sim: RunningSim,
    _dir: tempfile::TempDir,
}

async fn start(opts: impl FnOnce(&mut SimOptions)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut o = SimOptions::ephemeral(dir.path().join("tls"));
    opts(&mut o);
    let sim = pve_ontap_sim::start(o).await.expect("simulator");
    Env { sim, _dir: dir }
}

async fn start_default() -> Env {
    start(|_| {}).await
}

impl Env {
    fn config(&self) -> OntapConfig {
        let mut c = OntapConfig::new(self.sim.ontap_url(), USER, PASSWORD);
        c.ca_bundle_pem = Some(self.sim.ca_pem().as_bytes().to_vec());
        c
    }

    fn client(&self) -> OntapClient {
        OntapClient::new(self.config()).unwrap()
    }

    async fn add_fault(&self, fault: Value) {
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.sim.ca_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let resp = http
            .post(format!("{}/_sim/faults", self.sim.ontap_url()))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "fault not accepted: {}",
            resp.text().await.unwrap()
        );
    }
}

async fn images_volume(c: &OntapClient) -> (String, String) {
    let v = c
        .find_volume("svm1", "pve_images")
        .await
        .unwrap()
        .expect("pve_images exists");
    (v.uuid, v.name)
}

/// Completes an in-progress job by polling its status; bounded so a stuck job fails the test.
async fn finish(c: &OntapClient, completion: Completion) {
    let Completion::InProgress { job_uuid } = completion else {
        return;
    };
    for _ in 0..200 {
        if c.job_completion(&job_uuid).await.unwrap().is_done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_uuid} did not finish");
}

#[tokio::test]
async fn cluster_svms_and_interfaces() {
    let env = start_default().await;
    let c = env.client();
    let cluster = c.cluster().await.unwrap();
    assert_eq!(cluster.name, "sim-cluster");
    assert_eq!(cluster.version_string().as_deref(), Some("9.16.1"));
    let svms = c.svms().await.unwrap();
    assert!(
        svms.iter().any(|s| s.name == "svm1" && !s.uuid.is_empty()),
        "{svms:?}"
    );
    let lifs = c.ip_interfaces(Some("192.0.2.10")).await.unwrap();
    assert_eq!(lifs.len(), 1, "{lifs:?}");
    assert_eq!(
        lifs[0].svm.as_ref().and_then(|s| s.name.as_deref()),
        Some("svm1")
    );
    assert!(c
        .ip_interfaces(Some("192.0.2.99"))
        .await
        .unwrap()
        .is_empty());
    assert!(!c.ip_interfaces(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn volume_lookups() {
    let env = start_default().await;
    let c = env.client();
    let v = c.find_volume("svm1", "pve_images").await.unwrap().unwrap();
    assert_eq!(v.junction_path(), Some("/pve_images"));
    assert_eq!(v.svm_name(), Some("svm1"));
    assert_eq!(v.state.as_deref(), Some("online"));
    let by_path = c
        .find_volume_by_path("svm1", "/pve_images")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_path.uuid, v.uuid);
    assert_eq!(c.volume(&v.uuid).await.unwrap().name, "pve_images");
    assert!(c
        .find_volume("svm1", "no_such_volume")
        .await
        .unwrap()
        .is_none());
    assert!(c
        .find_volume_by_path("svm1", "/nowhere")
        .await
        .unwrap()
        .is_none());
    let missing = c
        .volume("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
}

#[tokio::test]
async fn collections_follow_next_links() {
    let env = start(|o| o.generate_volumes = Some(25)).await;
    let c = env.client();
    let all = c.list_volumes(&[]).await.unwrap();
    assert!(all.len() >= 25, "{}", all.len());
    let paged = c.list_volumes(&[("max_records", "4")]).await.unwrap();
    let mut a: Vec<_> = all.iter().map(|v| v.uuid.clone()).collect();
    let mut b: Vec<_> = paged.iter().map(|v| v.uuid.clone()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "paging must return every volume exactly once");
}

#[tokio::test]
async fn snapshot_lifecycle() {
    let env = start_default().await;
    let c = env.client();
    let (vol, _) = images_volume(&c).await;
    let done = c
        .create_snapshot(&vol, "pveontap_t1", Some("owner=test"))
        .await
        .unwrap();
    finish(&c, done).await;
    let snap = c
        .find_snapshot(&vol, "pveontap_t1")
        .await
        .unwrap()
        .expect("snapshot created");
    assert_eq!(snap.comment.as_deref(), Some("owner=test"));
    assert!(snap.create_time.is_some());
    assert_eq!(
        c.snapshot(&vol, &snap.uuid).await.unwrap().name,
        "pveontap_t1"
    );
    assert!(c
        .snapshots(&vol)
        .await
        .unwrap()
        .iter()
        .any(|s| s.uuid == snap.uuid));

    let dup = c
        .create_snapshot(&vol, "pveontap_t1", None)
        .await
        .unwrap_err();
    assert!(dup.is_already_exists(), "{dup:?}");

    finish(&c, c.delete_snapshot(&vol, &snap.uuid).await.unwrap()).await;
    assert!(c
        .find_snapshot(&vol, "pveontap_t1")
        .await
        .unwrap()
        .is_none());
    let gone = c.delete_snapshot(&vol, &snap.uuid).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
}

#[tokio::test]
async fn flexclone_busy_parent_snapshot_and_recovery_queue() {
    let env = start_default().await;
    let c = env.client();
    let (vol, _) = images_volume(&c).await;
    finish(
        &c,
        c.create_snapshot(&vol, "base_snap", None).await.unwrap(),
    )
    .await;
    let snap = c.find_snapshot(&vol, "base_snap").await.unwrap().unwrap();

    let spec = FlexCloneSpec {
        name: "pveontap_clone_t1".into(),
        svm: "svm1".into(),
        parent_volume: "pve_images".into(),
        parent_snapshot: "base_snap".into(),
        junction_path: Some("/pveontap_clone_t1".into()),
        comment: Some("pveontap:test/owner".into()),
    };
    finish(&c, c.create_flexclone(&spec).await.unwrap()).await;
    let clone = c
        .find_volume_by_path("svm1", "/pveontap_clone_t1")
        .await
        .unwrap()
        .expect("clone mounted");
    assert!(clone.is_flexclone());
    assert_eq!(clone.comment.as_deref(), Some("pveontap:test/owner"));
    let origin = clone.clone.as_ref().unwrap();
    assert_eq!(
        origin
            .parent_volume
            .as_ref()
            .and_then(|p| p.name.as_deref()),
        Some("pve_images")
    );
    assert_eq!(
        origin
            .parent_snapshot
            .as_ref()
            .and_then(|p| p.name.as_deref()),
        Some("base_snap")
    );
    let again = c.create_flexclone(&spec).await.unwrap_err();
    assert!(again.is_already_exists(), "{again:?}");
    let children = c
        .list_volumes(&[("clone.parent_volume.uuid", vol.as_str())])
        .await
        .unwrap();
    assert!(children.iter().any(|v| v.uuid == clone.uuid));

    // The snapshot backs the clone: ONTAP refuses to delete it (job failure 1638555), classified as Busy.
    let busy = c.delete_snapshot(&vol, &snap.uuid).await.unwrap_err();
    assert!(busy.is_busy(), "{busy:?}");

    let patch = VolumePatch {
        junction_path: Some(String::new()),
        comment: Some("unmounted".into()),
        ..Default::default()
    };
    finish(&c, c.patch_volume(&clone.uuid, &patch).await.unwrap()).await;
    let unmounted = c.volume(&clone.uuid).await.unwrap();
    assert_eq!(unmounted.junction_path(), None);
    assert_eq!(unmounted.comment.as_deref(), Some("unmounted"));

    finish(&c, c.delete_volume(&clone.uuid, false).await.unwrap()).await;
    assert!(c.volume(&clone.uuid).await.unwrap_err().is_not_found());
    // Deleted volumes wait in the recovery queue and still pin the parent snapshot.
    let queue = c.recovery_queue("svm1").await.unwrap();
    let entry = queue
        .iter()
        .find(|e| e.volume.starts_with("pveontap_clone_t1_"))
        .unwrap_or_else(|| panic!("clone not in recovery queue: {queue:?}"));
    assert!(c
        .delete_snapshot(&vol, &snap.uuid)
        .await
        .unwrap_err()
        .is_busy());
    c.purge_recovery_queue("svm1", &entry.volume).await.unwrap();
    assert!(c
        .recovery_queue("svm1")
        .await
        .unwrap()
        .iter()
        .all(|e| e.volume != entry.volume));
    let purge_again = c
        .purge_recovery_queue("svm1", &entry.volume)
        .await
        .unwrap_err();
    assert!(purge_again.is_not_found(), "{purge_again:?}");
    finish(&c, c.delete_snapshot(&vol, &snap.uuid).await.unwrap()).await;
}

#[tokio::test]
async fn file_clone_and_files() {
    let env = start_default().await;
    let c = env.client();
    let (vol, name) = images_volume(&c).await;
    c.create_directory(&vol, "images/900", "755").await.unwrap();
    let exists = c
        .create_directory(&vol, "images/900", "755")
        .await
        .unwrap_err();
    assert!(exists.is_already_exists(), "{exists:?}");
    assert!(c.file_info(&vol, "images/900").await.unwrap().is_dir());

    let src = "images/100/vm-100-disk-1.raw";
    let dst = "images/900/vm-900-disk-0.raw";
    finish(&c, c.clone_file(&vol, &name, src, dst).await.unwrap()).await;
    let copy = c.file_info(&vol, dst).await.unwrap();
    assert_eq!(copy.size, c.file_info(&vol, src).await.unwrap().size);
    assert_eq!(copy.kind.as_deref(), Some("file"));
    let listing = c.list_directory(&vol, "images/900").await.unwrap();
    let names: Vec<_> = listing.iter().filter_map(|f| f.name.as_deref()).collect();
    assert_eq!(names, ["vm-900-disk-0.raw"]);
    assert!(c
        .list_directory(&vol, "")
        .await
        .unwrap()
        .iter()
        .any(|f| f.name.as_deref() == Some("images")));

    // Never overwritten: a second clone onto the same destination fails, and not as something to retry.
    let overwrite = c.clone_file(&vol, &name, src, dst).await.unwrap_err();
    assert!(!overwrite.is_transient(), "{overwrite:?}");

    let not_empty = c.delete_file(&vol, "images/900", false).await.unwrap_err();
    assert!(
        matches!(not_empty, OntapError::Invalid { code: 131_138, .. }),
        "{not_empty:?}"
    );
    finish(&c, c.delete_file(&vol, dst, false).await.unwrap()).await;
    assert!(c.file_info(&vol, dst).await.unwrap_err().is_not_found());
    finish(&c, c.delete_file(&vol, "images/900", false).await.unwrap()).await;
    assert!(c
        .delete_file(&vol, "images/900", false)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn slow_jobs_are_in_progress_not_failed() {
    let mut scenario: Value = serde_json::to_value(Scenario::default_scenario()).unwrap();
    scenario["timings"]["ontap"]["job_running_ms"] = json!(1500);
    let scenario: Scenario = serde_json::from_value(scenario).unwrap();
    let env = start(|o| o.scenario = ScenarioSource::Value(Box::new(scenario))).await;
    let mut cfg = env.config();
    cfg.return_timeout = Duration::ZERO;
    cfg.job_wait = Duration::ZERO;
    let c = OntapClient::new(cfg).unwrap();
    let (vol, _) = images_volume(&c).await;
    let completion = c.create_snapshot(&vol, "slow_snap", None).await.unwrap();
    let Completion::InProgress { job_uuid } = completion.clone() else {
        panic!("expected in progress: {completion:?}")
    };
    let job = c.job(&job_uuid).await.unwrap();
    assert!(!job.is_terminal(), "{job:?}");
    finish(&c, completion).await;
    assert_eq!(c.job(&job_uuid).await.unwrap().state, "success");
    assert!(c.find_snapshot(&vol, "slow_snap").await.unwrap().is_some());
    assert!(c
        .job_completion("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn failed_job_carries_ontaps_code_and_message() {
    let env = start_default().await;
    let fault = json!({"api": "ontap", "async_failure": {"operation": "file_clone", "code": "13565952",
        "message": "Clone start failed: injected"}, "count": 1});
    let (src, dst) = (
        "images/100/vm-100-disk-1.raw",
        "images/100/vm-100-disk-9.raw",
    );

    // Job polled by the client (return_timeout 0 → 202): the job's failure is JobFailed with ONTAP's code.
    env.add_fault(fault.clone()).await;
    let mut cfg = env.config();
    cfg.return_timeout = Duration::ZERO;
    let c = OntapClient::new(cfg).unwrap();
    let (vol, name) = images_volume(&c).await;
    let err = c.clone_file(&vol, &name, src, dst).await.unwrap_err();
    assert_eq!(
        err,
        OntapError::JobFailed {
            code: 13_565_952,
            message: "Clone start failed: injected".into()
        }
    );
    assert!(!err.is_transient());

    // Job that fails within return_timeout: reported in the response itself, still with ONTAP's code and text.
    env.add_fault(fault).await;
    let err = env
        .client()
        .clone_file(&vol, &name, src, dst)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(13_565_952), "{err:?}");
    assert!(
        err.to_string().contains("Clone start failed: injected"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(c.file_info(&vol, dst).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn http_faults_are_classified() {
    let env = start_default().await;
    let c = env.client();
    env.add_fault(
        json!({"api": "ontap", "method": "GET", "route": "/api/cluster",
        "error": {"status": 503, "code": "1", "message": "service unavailable"}, "count": 1}),
    )
    .await;
    let e = c.cluster().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(c.cluster().await.is_ok(), "the fault fires once");

    env.add_fault(
        json!({"api": "ontap", "method": "GET", "route": "/api/svm/svms",
        "error": {"status": 429, "code": "1", "message": "too many requests"}, "count": 1}),
    )
    .await;
    assert!(c.svms().await.unwrap_err().is_transient());

    env.add_fault(json!({"api": "ontap", "method": "GET", "route": "/api/svm/svms",
        "error": {"status": 403, "code": "6", "message": "not authorized for that command"}, "count": 1}))
        .await;
    assert!(matches!(
        c.svms().await.unwrap_err(),
        OntapError::Forbidden { .. }
    ));

    env.add_fault(
        json!({"api": "ontap", "route": "/api/cluster", "drop_connection": true, "count": 1}),
    )
    .await;
    assert!(c.cluster().await.unwrap_err().is_transient());

    let bad_fields = c.list_volumes(&[("no_such_field", "x")]).await.unwrap_err();
    assert!(
        matches!(bad_fields, OntapError::Invalid { .. }),
        "{bad_fields:?}"
    );
}

#[tokio::test]
async fn authentication_and_tls_trust() {
    let env = start_default().await;
    let mut wrong = env.config();
    wrong.password = "wrong".into();
    let e = OntapClient::new(wrong)
        .unwrap()
        .cluster()
        .await
        .unwrap_err();
    assert!(matches!(e, OntapError::Unauthorized { .. }), "{e:?}");
    assert!(!format!("{e}").contains("wrong"));

    // Without the simulator's CA the certificate is not trusted.
    let mut untrusted = env.config();
    untrusted.ca_bundle_pem = None;
    let e = OntapClient::new(untrusted)
        .unwrap()
        .cluster()
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // A different CA does not help either.
    let other_ca = foreign_ca_pem();
    let mut foreign = env.config();
    foreign.ca_bundle_pem = Some(other_ca.into_bytes());
    assert!(OntapClient::new(foreign).unwrap().cluster().await.is_err());

    let mut insecure = env.config();
    insecure.ca_bundle_pem = None;
    insecure.insecure_skip_tls_verify = true;
    assert_eq!(
        OntapClient::new(insecure)
            .unwrap()
            .cluster()
            .await
            .unwrap()
            .name,
        "sim-cluster"
    );

    // Nothing listening: a transient connection error.
    let dead = OntapConfig::new("https://127.0.0.1:1", USER, PASSWORD);
    assert!(OntapClient::new(dead)
        .unwrap()
        .cluster()
        .await
        .unwrap_err()
        .is_transient());
}

/// The CA of another simulator instance: valid, but unrelated to the one under test.
fn foreign_ca_pem() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("tls");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let sim = pve_ontap_sim::start(SimOptions::ephemeral(path))
                .await
                .unwrap();
            let pem = sim.ca_pem().to_string();
            sim.shutdown().await;
            pem
        })
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn split_clone_frees_snapshot_and_forced_delete_skips_queue() {
    let env = start_default().await;
    let c = env.client();
    let (vol, _) = images_volume(&c).await;
    finish(
        &c,
        c.create_snapshot(&vol, "split_base", None).await.unwrap(),
    )
    .await;
    let spec = FlexCloneSpec {
        name: "pveontap_split_t1".into(),
        svm: "svm1".into(),
        parent_volume: "pve_images".into(),
        parent_snapshot: "split_base".into(),
        junction_path: None,
        comment: None,
    };
    finish(&c, c.create_flexclone(&spec).await.unwrap()).await;
    let clone = c
        .find_volume("svm1", "pveontap_split_t1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(clone.junction_path(), None, "created unmounted");
    let mount = VolumePatch {
        junction_path: Some("/pveontap_split_t1".into()),
        ..Default::default()
    };
    finish(&c, c.patch_volume(&clone.uuid, &mount).await.unwrap()).await;
    assert_eq!(
        c.volume(&clone.uuid).await.unwrap().junction_path(),
        Some("/pveontap_split_t1")
    );

    let split = VolumePatch {
        split: Some(true),
        ..Default::default()
    };
    finish(&c, c.patch_volume(&clone.uuid, &split).await.unwrap()).await;
    assert!(
        !c.volume(&clone.uuid).await.unwrap().is_flexclone(),
        "split clone is an ordinary volume"
    );
    // Nothing depends on the snapshot any more.
    let snap = c.find_snapshot(&vol, "split_base").await.unwrap().unwrap();
    finish(&c, c.delete_snapshot(&vol, &snap.uuid).await.unwrap()).await;

    // A directory tree goes with `recurse`.
    c.create_directory(&clone.uuid, "tree", "755")
        .await
        .unwrap();
    c.create_directory(&clone.uuid, "tree/sub", "755")
        .await
        .unwrap();
    finish(&c, c.delete_file(&clone.uuid, "tree", true).await.unwrap()).await;
    assert!(c
        .file_info(&clone.uuid, "tree")
        .await
        .unwrap_err()
        .is_not_found());

    finish(&c, c.delete_volume(&clone.uuid, true).await.unwrap()).await;
    assert!(c.volume(&clone.uuid).await.unwrap_err().is_not_found());
    let queue = c.recovery_queue("svm1").await.unwrap();
    assert!(
        queue
            .iter()
            .all(|e| !e.volume.starts_with("pveontap_split_t1")),
        "{queue:?}"
    );
}
