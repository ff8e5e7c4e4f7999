//! Volume snapshot restore as NetApp documents it: `PATCH /api/storage/volumes/{uuid}` with `restore_to.*`
//! (<https://docs.netapp.com/us-en/ontap-restapi/patch-storage-volumes-.html>), the CLI passthrough for
//! `volume snapshot restore` (<https://docs.netapp.com/us-en/ontap-cli/volume-snapshot-restore.html>), and
//! single-file restores (`restore_to.path`, and `POST /api/storage/file/clone` from `.snapshot/<snap>/…` with
//! `overwrite_destination`, <https://docs.netapp.com/us-en/ontap-restapi/post-storage-file-clone.html>).

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;
const DISK0: &str = "images/100/vm-100-disk-0.qcow2";
const DISK1: &str = "images/100/vm-100-disk-1.raw";
const DISK101: &str = "images/101/vm-101-disk-0.raw";
const CLI_RESTORE: &str = "/api/private/cli/volume/snapshot/restore";

async fn snapshot(t: &TestSim, vol: &str, name: &str) -> String {
    let job = t
        .ok_job(
            t.post(
                &format!("/api/storage/volumes/{vol}/snapshots"),
                json!({ "name": name }),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "success");
    let (_, s) = t
        .get(&format!("/api/storage/volumes/{vol}/snapshots?name={name}"))
        .await;
    s["records"][0]["uuid"].as_str().unwrap().to_string()
}

/// The volume's snapshot names, sorted (ONTAP lists snapshots in no documented order).
async fn snapshot_names(t: &TestSim, vol: &str) -> Vec<String> {
    let (_, s) = t
        .get(&format!("/api/storage/volumes/{vol}/snapshots"))
        .await;
    let mut names: Vec<String> = s["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The file's size, None when it does not exist.
async fn file_size(t: &TestSim, vol: &str, path: &str) -> Option<u64> {
    let (s, f) = t
        .get(&format!(
            "/api/storage/volumes/{vol}/files/{}?fields=size",
            enc(path)
        ))
        .await;
    match s {
        StatusCode::OK => Some(f["records"][0]["size"].as_u64().unwrap()),
        StatusCode::NOT_FOUND => None,
        other => panic!("files GET {path}: {other} {f}"),
    }
}

async fn space(t: &TestSim, vol: &str) -> Value {
    let (_, v) = t
        .get(&format!(
            "/api/storage/volumes/{vol}?fields=size,space,files"
        ))
        .await;
    v
}

async fn write(t: &TestSim, vol: &str, path: &str, bytes: u64) {
    let resp = t
        .http
        .post(t.ontap("/_sim/ontap/write"))
        .json(&json!({ "volume": vol, "path": path, "bytes": bytes }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

async fn file_clone(t: &TestSim, vol: &str, src: &str, dest: &str, overwrite: bool) -> Value {
    t.job_of(
        t.post(
            "/api/storage/file/clone",
            json!({"volume": {"uuid": vol}, "source_path": src, "destination_path": dest, "overwrite_destination": overwrite}),
        )
        .await,
    )
    .await
}

async fn restore_by_name(t: &TestSim, vol: &str, snap: &str) -> Value {
    t.job_of(
        t.patch(
            &format!("/api/storage/volumes/{vol}?restore_to.snapshot.name={snap}"),
            json!({}),
        )
        .await,
    )
    .await
}

async fn flexclone(t: &TestSim, name: &str, snap: &str) -> String {
    t.ok_job(
        t.post(
            "/api/storage/volumes",
            json!({"name": name, "svm": {"name": "svm1"}, "clone": {"is_flexclone": true, "parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": snap}}}),
        )
        .await,
    )
    .await;
    t.volume_uuid(name).await
}

#[tokio::test]
async fn restore_reverts_files_space_and_size_and_deletes_newer_snapshots() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    let before_uuid = snapshot(&t, &vol, "before").await;
    let at_snapshot = space(&t, &vol).await;
    assert_eq!(at_snapshot["space"]["used"], 56 * GIB);
    assert_eq!(at_snapshot["space"]["snapshot"]["used"], 0);

    // Diverge: new data in one file, a new file, a deleted file, a smaller volume, and newer snapshots.
    write(&t, &vol, DISK1, 4 * GIB).await;
    let job = file_clone(&t, &vol, DISK0, "images/100/new.qcow2", false).await;
    assert_eq!(job["state"], "success", "{job}");
    let (s, _) = t
        .delete(&format!(
            "/api/storage/volumes/{vol}/files/{}",
            enc(DISK101)
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    snapshot(&t, &vol, "later").await;
    write(&t, &vol, DISK0, GIB).await;
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{vol}"),
            json!({"size": "500GB"}),
        )
        .await,
    )
    .await;
    snapshot(&t, &vol, "latest").await;
    let diverged = space(&t, &vol).await;
    assert_eq!(diverged["space"]["used"], 61 * GIB);
    assert_eq!(diverged["space"]["logical_space"]["used"], 72 * GIB);
    assert_ne!(diverged["size"], at_snapshot["size"]);

    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "success", "{job}");

    // Files are those of the snapshot.
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(8 * GIB));
    assert_eq!(file_size(&t, &vol, DISK0).await, Some(32 * GIB));
    assert_eq!(file_size(&t, &vol, DISK101).await, Some(16 * GIB));
    assert_eq!(file_size(&t, &vol, "images/100/new.qcow2").await, None);
    // Space accounting is the snapshot-time one: the diverged blocks are freed with the deleted snapshots.
    let after = space(&t, &vol).await;
    for field in [
        "/space/used",
        "/space/logical_space/used",
        "/space/snapshot/used",
        "/space/available",
        "/files/used",
        "/size",
    ] {
        assert!(at_snapshot.pointer(field).is_some(), "{field}");
        assert_eq!(
            after.pointer(field),
            at_snapshot.pointer(field),
            "{field}: {after}"
        );
    }
    // The target snapshot stays (same identity), newer ones are gone.
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before"]);
    let (s, one) = t
        .get(&format!(
            "/api/storage/volumes/{vol}/snapshots/{before_uuid}"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");

    // Restoring to the same snapshot again works (it was kept).
    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "success", "{job}");
}

#[tokio::test]
async fn restore_keeps_older_snapshots_and_grows_size_only() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    snapshot(&t, &vol, "a").await;
    snapshot(&t, &vol, "b").await;
    snapshot(&t, &vol, "c").await;
    // A volume grown after the snapshot keeps its larger size.
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{vol}"),
            json!({"size": "2TB"}),
        )
        .await,
    )
    .await;
    let job = restore_by_name(&t, &vol, "b").await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["a", "b"]);
    let (_, v) = t
        .get(&format!("/api/storage/volumes/{vol}?fields=size"))
        .await;
    assert_eq!(v["size"], 2u64 << 40);
}

#[tokio::test]
async fn restore_refused_while_a_newer_snapshot_backs_a_flexclone() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    snapshot(&t, &vol, "before").await;
    let job = file_clone(&t, &vol, DISK0, "images/100/after.qcow2", false).await;
    assert_eq!(job["state"], "success", "{job}");
    snapshot(&t, &vol, "later").await;
    let clone = flexclone(&t, "c_later", "later").await;

    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "failure", "{job}");
    assert_eq!(job["code"], 524511);
    assert_eq!(job["error"]["code"], "524511");
    assert_eq!(
        job["message"],
        "Failed to restore snapshot \"before\". Reason: newer snapshot \"later\" is in use by FlexClone volume(s): c_later."
    );
    // Nothing changed.
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "later"]);
    assert_eq!(
        file_size(&t, &vol, "images/100/after.qcow2").await,
        Some(32 * GIB)
    );

    // The CLI refuses the same way; -force only concerns SnapMirror reference snapshots.
    let (s, e) = t
        .post(
            CLI_RESTORE,
            json!({"vserver": "svm1", "volume": "pve_images", "snapshot": "before", "force": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "524511");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("in use by FlexClone volume(s): c_later."));

    // A deleted clone in the recovery queue still holds the snapshot.
    t.ok_job(t.delete(&format!("/api/storage/volumes/{clone}")).await)
        .await;
    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "failure", "{job}");
    assert_eq!(job["code"], 524511);
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .ends_with("in use by FlexClone volume(s): c_later (recovery queue)."),
        "{job}"
    );
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "later"]);

    // Purged from the queue, the restore goes through.
    let (s, b) = t
        .post(
            "/api/private/cli/volume/recovery-queue/purge",
            json!({"vserver": "svm1", "volume": "*"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before"]);
    assert_eq!(file_size(&t, &vol, "images/100/after.qcow2").await, None);
}

#[tokio::test]
async fn flexclones_of_the_target_or_older_snapshots_do_not_block_a_restore() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    let (f1, f2) = ("images/100/f1.raw", "images/100/f2.raw");
    snapshot(&t, &vol, "old").await;
    assert_eq!(
        file_clone(&t, &vol, DISK1, f1, false).await["state"],
        "success"
    );
    snapshot(&t, &vol, "before").await;
    assert_eq!(
        file_clone(&t, &vol, DISK1, f2, false).await["state"],
        "success"
    );
    snapshot(&t, &vol, "later").await;
    let c_old = flexclone(&t, "c_old", "old").await;
    let c_before = flexclone(&t, "c_before", "before").await;

    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "old"]);
    assert_eq!(file_size(&t, &vol, f1).await, Some(8 * GIB));
    assert_eq!(file_size(&t, &vol, f2).await, None);
    // The clones are untouched and still pin their snapshots.
    assert_eq!(file_size(&t, &c_old, f1).await, None);
    assert_eq!(file_size(&t, &c_before, f1).await, Some(8 * GIB));
    assert_eq!(file_size(&t, &c_before, f2).await, None);
    let (_, snaps) = t
        .get(&format!("/api/storage/volumes/{vol}/snapshots?name=before"))
        .await;
    let before = snaps["records"][0]["uuid"].as_str().unwrap();
    let job = t
        .job_of(
            t.delete(&format!("/api/storage/volumes/{vol}/snapshots/{before}"))
                .await,
        )
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 1638555);
}

#[tokio::test]
async fn restore_request_validation() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    let before = snapshot(&t, &vol, "before").await;
    snapshot(&t, &vol, "later").await;
    let base = format!("/api/storage/volumes/{vol}");

    // A snapshot that does not exist: synchronous 400, 918251, target naming the field used.
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.name=nosuch"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918251");
    assert_eq!(
        e["error"]["message"],
        "Snapshot copy \"nosuch\" does not exist in volume \"pve_images\"."
    );
    assert_eq!(e["error"]["target"], "restore_to.snapshot.name");
    let bogus = "00000000-0000-0000-0000-000000000000";
    let (s, e) = t
        .patch(&base, json!({"restore_to": {"snapshot": {"uuid": bogus}}}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918251");
    assert_eq!(e["error"]["target"], "restore_to.snapshot.uuid");
    // uuid and name of different snapshots.
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.uuid={before}&restore_to.snapshot.name=later"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918251");

    // No `force` in the REST API (only the CLI has -force).
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.name=before&restore_to.snapshot.force=true"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
    let (s, e) = t
        .patch(
            &base,
            json!({"restore_to": {"snapshot": {"name": "before", "force": true}}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
    assert_eq!(e["error"]["target"], "restore_to.snapshot.force");

    // A restore is its own PATCH.
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.name=before"),
            json!({"size": "2TB"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918251");
    assert_eq!(e["error"]["target"], "size");

    // preserve_lun_ids is a boolean; byte ranges are not simulated; a path needs a snapshot.
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.name=before&preserve_lun_ids=maybe"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "2");
    let (s, e) = t
        .patch(
            &format!("{base}?restore_to.snapshot.name=before&restore_to.path={DISK1}&restore_to.start_byte=0"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "3");
    let (s, e) = t
        .patch(&format!("{base}?restore_to.path={DISK1}"), json!({}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "2");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "later"]);

    // The body form NetApp's Ansible modules send (`restore_to.snapshot.name` as a dotted body key) works too.
    let job = t
        .job_of(
            t.patch(
                &format!("{base}?preserve_lun_ids=true"),
                json!({"restore_to.snapshot.name": "before"}),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before"]);

    // An offline volume cannot be restored (the job fails with 9437885).
    t.ok_job(t.patch(&base, json!({"state": "offline"})).await)
        .await;
    let job = restore_by_name(&t, &vol, "before").await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 9437885);
}

#[tokio::test]
async fn single_file_restore_with_restore_to_path() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    snapshot(&t, &vol, "before").await;
    // The live disk-1 becomes another 16 GiB file.
    assert_eq!(
        file_clone(&t, &vol, DISK101, DISK1, true).await["state"],
        "success"
    );
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(16 * GIB));
    snapshot(&t, &vol, "later").await;
    let (s, _) = t
        .delete(&format!(
            "/api/storage/volumes/{vol}/files/{}",
            enc(DISK101)
        ))
        .await;
    assert_eq!(s, StatusCode::OK);

    // In place: the live file gets the snapshot's version; snapshots are kept.
    let job = t
        .job_of(
            t.patch(
                &format!("/api/storage/volumes/{vol}?restore_to.snapshot.name=before&restore_to.path=/{DISK1}"),
                json!({}),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(8 * GIB));
    assert_eq!(file_size(&t, &vol, DISK101).await, None);
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "later"]);

    // Elsewhere (restore_path), from the body.
    let job = t
        .job_of(
            t.patch(
                &format!("/api/storage/volumes/{vol}"),
                json!({"restore_to": {"snapshot": {"name": "later"}, "path": DISK1, "restore_path": "images/100/old.raw"}}),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(
        file_size(&t, &vol, "images/100/old.raw").await,
        Some(16 * GIB)
    );

    // A file the snapshot does not have, and a directory, fail the job with 524511.
    for path in ["images/100/nosuch.raw", "images/100"] {
        let job = t
            .job_of(
                t.patch(
                    &format!("/api/storage/volumes/{vol}?restore_to.snapshot.name=before&restore_to.path={path}"),
                    json!({}),
                )
                .await,
            )
            .await;
        assert_eq!(job["state"], "failure", "{job}");
        assert_eq!(job["code"], 524511);
    }
}

#[tokio::test]
async fn file_clone_from_snapshot_over_a_live_file() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    snapshot(&t, &vol, "before").await;
    // The live disk-1 becomes another 16 GiB file, then gets 4 GiB of new data.
    assert_eq!(
        file_clone(&t, &vol, DISK101, DISK1, true).await["state"],
        "success"
    );
    write(&t, &vol, DISK1, 4 * GIB).await;
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(16 * GIB));
    let diverged = space(&t, &vol).await;
    assert_eq!(diverged["space"]["used"], 60 * GIB);
    assert_eq!(diverged["space"]["logical_space"]["used"], 64 * GIB);
    let src = format!(".snapshot/before/{DISK1}");

    // Without overwrite_destination an existing destination is refused and left alone.
    let job = file_clone(&t, &vol, &src, DISK1, false).await;
    assert_eq!(job["state"], "failure", "{job}");
    assert_eq!(job["code"], 13565952);
    assert!(
        job["message"].as_str().unwrap().contains("already exists"),
        "{job}"
    );
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(16 * GIB));

    // With it the snapshot's version comes back, sharing the snapshot's blocks.
    let job = file_clone(&t, &vol, &src, DISK1, true).await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(file_size(&t, &vol, DISK1).await, Some(8 * GIB));
    let after = space(&t, &vol).await;
    assert_eq!(after["space"]["logical_space"]["used"], 56 * GIB);
    assert_eq!(after["space"]["used"], 56 * GIB);
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before"]);

    // The "./.snapshot/<snap>/…" form of NetApp's example works as well; an unknown snapshot fails.
    assert_eq!(
        file_clone(&t, &vol, DISK101, DISK0, true).await["state"],
        "success"
    );
    assert_eq!(file_size(&t, &vol, DISK0).await, Some(16 * GIB));
    let job = file_clone(
        &t,
        &vol,
        &format!("./.snapshot/before/{DISK0}"),
        DISK0,
        true,
    )
    .await;
    assert_eq!(job["state"], "success", "{job}");
    assert_eq!(file_size(&t, &vol, DISK0).await, Some(32 * GIB));
    let job = file_clone(&t, &vol, &format!(".snapshot/nosuch/{DISK0}"), DISK0, true).await;
    assert_eq!(job["state"], "failure", "{job}");
    assert_eq!(job["code"], 13565952);
}

#[tokio::test]
async fn cli_snapshot_restore_parameters() {
    let t = start_default().await;
    let vol = t.volume_uuid("pve_images").await;
    snapshot(&t, &vol, "before").await;
    snapshot(&t, &vol, "later").await;
    let args = json!({"vserver": "svm1", "volume": "pve_images", "snapshot": "before"});
    let with = |k: &str, v: Value| {
        let mut a = args.clone();
        a[k] = v;
        a
    };

    let (s, e) = t.post(CLI_RESTORE, with("foo", json!("bar"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
    assert_eq!(e["error"]["target"], "foo");
    let (s, e) = t
        .post(&format!("{CLI_RESTORE}?bogus=1"), args.clone())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
    let (s, e) = t.post(CLI_RESTORE, with("force", json!("yes"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "2");
    let (s, e) = t
        .post(
            CLI_RESTORE,
            json!({"vserver": "svm1", "volume": "pve_images"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "2");
    let (s, e) = t.post(CLI_RESTORE, with("snapshot", json!("zzz"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262145");
    assert_eq!(
        e["error"]["message"],
        "Snapshot copy \"zzz\" does not exist in volume \"pve_images\"."
    );
    // The CLI resource of netapp-ontap turns keyword arguments into a PATCH, which an action command refuses.
    let (s, _) = t
        .ontap_req(
            Method::PATCH,
            &format!("{CLI_RESTORE}?vserver=svm1&volume=pve_images&snapshot=before"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before", "later"]);

    // force and preserve_lun_ids (booleans) are accepted; privilege_level is the passthrough's own parameter.
    let mut a = with("force", json!(true));
    a["preserve_lun_ids"] = json!(false);
    let (s, b) = t
        .post(&format!("{CLI_RESTORE}?privilege_level=admin"), a)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(snapshot_names(&t, &vol).await, vec!["before"]);

    // The recovery-queue commands refuse unknown parameters too.
    let (s, e) = t
        .post(
            "/api/private/cli/volume/recovery-queue/purge",
            json!({"vserver": "svm1", "volume": "*", "force": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
}
