//! The built `kubectl-pveontap` binary driven as a user would: a kubeconfig for the real apiserver, a namespace,
//! and the controller + simulator harness behind it, so the objects it creates really become Ready (or fail).

#[path = "../../tests/controller_support/mod.rs"]
mod controller_support;

use std::process::{Command, Stdio};

use controller_support::*;
use kube::api::Api;
use pve_ontap_controller::api::ontap_storage::OntapStorageStatus;
use pve_ontap_controller::api::{
    FlexCloneMount, OntapCluster, OntapStorage, ProxmoxCluster, VmDiskClone, VolumeSnapshot,
    VolumeSnapshotRestore,
};
use pve_ontap_controller::controller::ontap_storage::plan::human;

/// What one run of the plugin left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "plugin failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The plugin as a user runs it: `--kubeconfig` of the test apiserver's admin, `-n` the harness's namespace,
/// stdin not a terminal, and no `KUBECONFIG` from the environment.
struct Plugin {
    kubeconfig: tempfile::NamedTempFile,
    ns: String,
}

impl Plugin {
    async fn new(h: &Harness) -> Plugin {
        let cp = testkit::shared().await.expect("control plane");
        let kubeconfig = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(kubeconfig.path(), cp.admin_kubeconfig()).expect("kubeconfig");
        Plugin {
            kubeconfig,
            ns: h.ns.clone(),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let mut argv: Vec<String> = vec![
            "--kubeconfig".into(),
            self.kubeconfig.path().display().to_string(),
            "-n".into(),
            self.ns.clone(),
            "--timeout=80s".into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_kubectl-pveontap"))
                .args(&argv)
                .env_remove("KUBECONFIG")
                .stdin(Stdio::null())
                .output()
                .expect("run kubectl-pveontap")
        })
        .await
        .expect("plugin thread");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Waits until both backends report Ready, so `status` has versions, nodes and SVMs to show.
async fn backends_ready(h: &Harness) -> (ProxmoxCluster, OntapCluster) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pve = Api::<ProxmoxCluster>::all(h.admin.clone())
            .get(&h.pve_name)
            .await
            .unwrap();
        let ontap = Api::<OntapCluster>::all(h.admin.clone())
            .get(&h.ontap_name)
            .await
            .unwrap();
        let ready = |c: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
            condition(c, "Ready").is_some_and(|c| c.status == "True")
        };
        let pve_ok = pve
            .status
            .as_ref()
            .is_some_and(|s| ready(&s.conditions) && s.version.is_some());
        let ontap_ok = ontap
            .status
            .as_ref()
            .is_some_and(|s| ready(&s.conditions) && !s.svms.is_empty());
        if pve_ok && ontap_ok {
            return (pve, ontap);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backends never Ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `vm clone --suspend` waits until the copy is Ready, exits 0, and the VM runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_clone_waits_until_ready() {
    let h = Harness::start("plugin-clone").await;
    let p = Plugin::new(&h).await;
    let run = p
        .run(&[
            "vm",
            "clone",
            "100",
            "--suspend",
            "--disk",
            "scsi0",
            "--object-name",
            "web01-copy",
        ])
        .await;
    run.ok();
    assert!(
        run.stdout.contains("vmdiskclone/web01-copy is Ready"),
        "{}",
        run.stdout
    );
    // The backend was chosen for us: the only ProxmoxCluster that admits the namespace.
    let obj = h.api::<VmDiskClone>().get("web01-copy").await.unwrap();
    assert_eq!(obj.spec.proxmox_cluster_ref.name, h.pve_name);
    assert!(is_ready(&obj));
    let st = obj.status.unwrap();
    let copy = &st.disks[0];
    assert!(
        run.stdout
            .contains(copy.clone_volume_id.as_deref().unwrap()),
        "{}",
        run.stdout
    );
    let inv = h.inventory().await;
    assert!(has_file(&inv, "pve_images", &copy.clone_path));
    assert_running(&inv, 100);
    assert_eq!(pause_events(&inv, 100), ["suspend", "resume"]);

    let listed = p.run(&["vm", "list", "100"]).await;
    listed.ok();
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("web01-copy") && l.contains("Ready")),
        "{}",
        listed.stdout
    );
    p.run(&["vm", "delete", "web01-copy"]).await.ok();
    assert!(h
        .api::<VmDiskClone>()
        .get_opt("web01-copy")
        .await
        .unwrap()
        .is_none());
    assert!(!has_file(
        &h.inventory().await,
        "pve_images",
        &copy.clone_path
    ));
    h.finish().await;
}

/// A clone the controller refuses (a CD-ROM is no disk to copy) exits non-zero with the object's condition
/// message; `status` then shows the backends and the failed object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_clone_exits_nonzero_and_status_shows_it() {
    let h = Harness::start("plugin-fail").await;
    let (pve, ontap) = backends_ready(&h).await;
    let p = Plugin::new(&h).await;
    let before = h.inventory().await;
    let run = p
        .run(&[
            "vm",
            "clone",
            "100",
            "--suspend",
            "--disk",
            "ide2",
            "--object-name",
            "bad",
        ])
        .await;
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let obj = h.api::<VmDiskClone>().get("bad").await.unwrap();
    let message = message_of(&obj);
    assert!(
        message.contains("ide2") && message.contains("CD-ROM"),
        "{message}"
    );
    assert!(
        run.stderr.contains(&message),
        "the condition's message is shown: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("VmDiskClone bad failed"),
        "{}",
        run.stderr
    );
    assert_unchanged(
        &before,
        &h.inventory().await,
        &[Unchanged::Files("pve_images"), Unchanged::VmEvents(100)],
    );

    let status = p.run(&["status"]).await;
    status.ok();
    let out = &status.stdout;
    let pve_line = out
        .lines()
        .find(|l| l.contains(&h.pve_name))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        pve_line.contains("True")
            && pve_line.contains(pve.status.as_ref().unwrap().version.as_deref().unwrap()),
        "{pve_line}"
    );
    assert!(pve_line.contains("pve1 (online)"), "{pve_line}");
    let ontap_line = out
        .lines()
        .find(|l| l.contains(&h.ontap_name))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        ontap_line.contains(ontap.status.as_ref().unwrap().version.as_deref().unwrap()),
        "{ontap_line}"
    );
    assert!(ontap_line.contains("svm1"), "{ontap_line}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("VmDiskClone") && l.contains("1 Failed")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("VolumeSnapshot ") && l.contains("none")),
        "{out}"
    );
    assert!(
        out.contains("VmDiskClone/bad: Failed (PreconditionFailed)") && out.contains(&message),
        "{out}"
    );
    // The refusal comes from the plan: the VM was never paused.
    assert!(pause_events(&h.inventory().await, 100).is_empty());
    h.finish().await;
}

/// `-o yaml` prints a manifest and creates nothing; that manifest applies and becomes Ready. `--dry-run=server`
/// creates nothing either, and a spec the schema rejects is refused with the apiserver's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_output_and_server_dry_run_create_nothing() {
    let h = Harness::start("plugin-yaml").await;
    let p = Plugin::new(&h).await;
    let run = p
        .run(&[
            "vm",
            "clone",
            "100",
            "--fsfreeze",
            "--object-name",
            "gitops-copy",
            "-o",
            "yaml",
        ])
        .await;
    run.ok();
    assert!(
        run.stdout.contains("kind: VmDiskClone") && run.stdout.contains("consistency: FsFreeze"),
        "{}",
        run.stdout
    );
    assert!(h
        .api::<VmDiskClone>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let cp = testkit::shared().await.unwrap();
    cp.apply_yaml(&h.ns, "plugin -o yaml", &run.stdout)
        .await
        .expect("the printed manifest applies");
    let obj = h.wait_ready::<VmDiskClone>("gitops-copy").await;
    assert_eq!(obj.spec.proxmox_cluster_ref.name, h.pve_name);

    let before = h.inventory().await;
    for args in [
        &["vm", "clone", "100", "--suspend", "--dry-run=server"][..],
        &["storage", "snapshot", "ONTAP01", "--dry-run=server"][..],
    ] {
        let run = p.run(args).await;
        run.ok();
        assert!(
            run.stdout.contains("created (server dry run)"),
            "{}",
            run.stdout
        );
    }
    assert_eq!(
        h.api::<VmDiskClone>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(h
        .api::<VolumeSnapshot>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let rejected = p
        .run(&[
            "vm",
            "clone",
            "100",
            "--disk",
            "unused0",
            "--dry-run=server",
        ])
        .await;
    assert_eq!(rejected.code, 1, "{}", rejected.stderr);
    assert!(
        rejected.stderr.contains("spec.disks"),
        "the field is named: {}",
        rejected.stderr
    );
    assert_unchanged(
        &before,
        &h.inventory().await,
        &[
            Unchanged::Snapshots("pve_images"),
            Unchanged::Files("pve_images"),
        ],
    );
    h.finish().await;
}

/// Waits until discovery's OntapStorage of `storage` satisfies `pred`.
async fn discovered(
    h: &Harness,
    storage: &str,
    what: &str,
    pred: impl Fn(&OntapStorageStatus) -> bool,
) -> OntapStorageStatus {
    let api: Api<OntapStorage> = Api::all(h.admin.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = api
            .list(&Default::default())
            .await
            .expect("list OntapStorages")
            .items
            .into_iter()
            .filter_map(|o| o.status)
            .find(|s| s.proxmox_cluster == h.pve_name && s.storage == storage);
        match found {
            Some(s) if pred(&s) => return s,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "OntapStorage of {storage} never showed {what}: {other:#?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn has_snapshot(s: &OntapStorageStatus, name: &str) -> bool {
    s.snapshots.iter().any(|d| d.name == name)
}

/// The old script's storage commands in one round trip: snapshot, list (with sizes and the snapshots no object
/// names, from discovery), mount, (refused) delete, show (every ONTAP snapshot of the volume), unmount by Proxmox
/// storage id, delete by ONTAP snapshot name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_snapshot_list_mount_unmount_delete() {
    let h = Harness::start_with(
        "plugin-storage",
        Options {
            // Long: what shows comes through the change triggers.
            discovery_interval: Some(std::time::Duration::from_secs(3600)),
            ..Default::default()
        },
    )
    .await;
    let p = Plugin::new(&h).await;
    // A snapshot made on ONTAP directly, as the old script or an ONTAP policy would.
    h.foreign_snapshot("pve_images", "by_hand").await;
    p.run(&["storage", "snapshot", "ONTAP01", "--name", "nightly"])
        .await
        .ok();
    let snap = h.api::<VolumeSnapshot>().get("nightly").await.unwrap();
    assert!(ready_to_use(&snap));
    let ontap_name = snap.status.as_ref().unwrap().snapshot_name.clone().unwrap();
    assert!(snapshot_names(&h.inventory().await, "pve_images").contains(&ontap_name));

    let seen = discovered(&h, "ONTAP01", "both snapshots", |s| {
        has_snapshot(s, "by_hand") && has_snapshot(s, &ontap_name)
    })
    .await;
    let size = seen
        .snapshots
        .iter()
        .find(|d| d.name == ontap_name)
        .and_then(|d| d.size_bytes)
        .map(human)
        .expect("the simulator reports snapshot sizes");

    let list = p.run(&["storage", "list", "ONTAP01"]).await;
    list.ok();
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("nightly"))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(
        row.starts_with("ONTAP01")
            && row.contains(&ontap_name)
            && row.contains("Ready")
            && row.contains(&format!(" {size} ")),
        "{row}"
    );
    assert!(
        list.stdout.contains(&format!(
            "1 more snapshot(s) on volume pve_images that no object of namespace {} names",
            h.ns
        )),
        "{}",
        list.stdout
    );

    p.run(&[
        "storage",
        "mount",
        "nightly",
        "--object-name",
        "nightly-mount",
    ])
    .await
    .ok();
    let mount = h
        .api::<FlexCloneMount>()
        .get("nightly-mount")
        .await
        .unwrap();
    let storage_id = mount.status.as_ref().unwrap().storage_id.clone().unwrap();
    assert!(storage(&h.inventory().await, &storage_id).is_some());
    let list = p.run(&["storage", "list"]).await;
    assert!(
        list.stdout
            .contains(&format!("nightly-mount ({storage_id})")),
        "{}",
        list.stdout
    );

    // A mounted snapshot is not deleted: refused before anything is asked of the apiserver.
    let refused = p.run(&["storage", "delete", "nightly"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("unmount first"),
        "{}",
        refused.stderr
    );
    let snap = h.api::<VolumeSnapshot>().get("nightly").await.unwrap();
    assert!(snap.metadata.deletion_timestamp.is_none());

    let clone_volume = mount
        .status
        .as_ref()
        .unwrap()
        .clone_volume_name
        .clone()
        .unwrap();
    discovered(&h, "ONTAP01", "the mount's FlexClone", |s| {
        s.snapshots
            .iter()
            .any(|d| d.name == ontap_name && !d.flex_clones.is_empty())
    })
    .await;
    let show = p.run(&["storage", "show", "ONTAP01"]).await;
    show.ok();
    assert!(
        show.stdout.contains("pve_images") && show.stdout.contains("nightly-mount"),
        "{}",
        show.stdout
    );
    let line = |name: &str| {
        show.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", show.stdout))
            .to_owned()
    };
    let foreign = line("by_hand");
    assert!(foreign.contains("Unmanaged"), "{foreign}");
    let ours = line(&ontap_name);
    assert!(
        ours.contains(" nightly ")
            && ours.contains(" Managed ")
            && ours.contains(&format!("VolumeSnapshot {}/nightly", h.ns))
            && ours.contains(&format!("{clone_volume} ({}/nightly-mount)", h.ns)),
        "{ours}"
    );
    let show = p.run(&["storage", "show", &ontap_name]).await;
    show.ok();
    assert!(
        show.stdout.contains("VolumeSnapshot") && show.stdout.contains(&storage_id),
        "{}",
        show.stdout
    );

    p.run(&["storage", "unmount", &storage_id]).await.ok();
    assert!(h
        .api::<FlexCloneMount>()
        .get_opt("nightly-mount")
        .await
        .unwrap()
        .is_none());
    assert!(storage(&h.inventory().await, &storage_id).is_none());
    p.run(&["storage", "delete", &ontap_name]).await.ok();
    assert!(h
        .api::<VolumeSnapshot>()
        .get_opt("nightly")
        .await
        .unwrap()
        .is_none());
    assert!(!snapshot_names(&h.inventory().await, "pve_images").contains(&ontap_name));
    let list = p.run(&["storage", "list"]).await;
    assert!(list.stdout.contains("No snapshots"), "{}", list.stdout);
    h.finish().await;
}

/// `storage restore` without a terminal and without `--yes` creates nothing; with `--yes` the plan is accepted
/// as the controller computed it: the newer snapshot goes, the VMs stopped for it run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_needs_consent() {
    let h = Harness::start("plugin-restore").await;
    let p = Plugin::new(&h).await;
    p.run(&["storage", "snapshot", "ONTAP01", "--name", "before"])
        .await
        .ok();
    p.run(&["storage", "snapshot", "ONTAP01", "--name", "after"])
        .await
        .ok();
    let after = h.api::<VolumeSnapshot>().get("after").await.unwrap();
    let after_name = after.status.unwrap().snapshot_name.unwrap();

    let before_inv = h.inventory().await;
    let refused = p
        .run(&["storage", "restore", "before", "--restart-vms"])
        .await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("Nothing was created"),
        "{}",
        refused.stderr
    );
    assert!(h
        .api::<VolumeSnapshotRestore>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert_unchanged(
        &before_inv,
        &h.inventory().await,
        &[Unchanged::Snapshots("pve_images"), Unchanged::PveEvents],
    );

    // Running VMs without --restart-vms: the plan is shown, nothing is restored, the planned object is gone.
    let held = p.run(&["storage", "restore", "before", "--yes"]).await;
    assert_eq!(held.code, 1, "{}", held.stderr);
    assert!(
        held.stderr.contains(&after_name),
        "the plan names the newer snapshot: {}",
        held.stderr
    );
    assert!(held.stderr.contains("--restart-vms"), "{}", held.stderr);
    h.wait_inventory("nothing restored", |inv| {
        snapshot_names(inv, "pve_images").contains(&after_name)
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !h
        .api::<VolumeSnapshotRestore>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the planned restore was not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let done = p
        .run(&[
            "storage",
            "restore",
            "before",
            "--yes",
            "--restart-vms",
            "--object-name",
            "rollback",
        ])
        .await;
    done.ok();
    assert!(
        done.stderr.contains(&after_name),
        "the plan was shown: {}",
        done.stderr
    );
    let vsr = h
        .api::<VolumeSnapshotRestore>()
        .get("rollback")
        .await
        .unwrap();
    assert!(is_ready(&vsr));
    let st = vsr.status.unwrap();
    assert_eq!(st.destroyed_snapshots, std::slice::from_ref(&after_name));
    let inv = h.inventory().await;
    assert!(!snapshot_names(&inv, "pve_images").contains(&after_name));
    assert_running(&inv, 100);
    assert_eq!(
        vsr.spec
            .confirm_destroy
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>(),
        [after_name]
    );
    h.finish().await;
}
