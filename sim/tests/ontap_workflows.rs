//! Conformance of the ONTAP write paths: jobs, return_timeout, volumes, FlexClones, snapshots, file clones,
//! the files API, the recovery queue and the CLI passthrough, space accounting.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;

#[tokio::test]
async fn volume_create_job_states_and_location() {
    let t = start_default().await;
    let resp = t
        .http
        .post(t.ontap("/api/storage/volumes?return_records=true"))
        .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
        .json(&json!({"name": "vol_new", "svm": {"name": "svm1"}, "size": "10GB", "aggregates": [{"name": "aggr1"}], "nas": {"path": "/vol_new"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "/api/storage/volumes/{}",
            body["records"][0]["uuid"].as_str().unwrap()
        )
    );
    assert_eq!(body["num_records"], 1);
    assert_eq!(body["records"][0]["name"], "vol_new");
    let job_uuid = body["job"]["uuid"].as_str().unwrap().to_string();
    // Observed states only ever move forward: queued → running → success.
    let rank = |s: &str| {
        ["queued", "running", "success"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or_else(|| panic!("state {s}"))
    };
    let mut seen = Vec::new();
    loop {
        let (_, job) = t
            .get(&format!("/api/cluster/jobs/{job_uuid}?fields=state"))
            .await;
        let state = job["state"].as_str().unwrap().to_string();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "success" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        seen.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
        "{seen:?}"
    );
    let job = t.wait_job(&job_uuid).await;
    assert_eq!(job["state"], "success");
    assert_eq!(job["code"], 0);
    assert_eq!(job["description"], "POST /api/storage/volumes");
    assert!(job["start_time"].is_string() && job["end_time"].is_string());
    let uuid = t.volume_uuid("vol_new").await;
    assert_eq!(uuid, body["records"][0]["uuid"].as_str().unwrap());
    let (_, v) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}?fields=size,nas.path,state"
        ))
        .await;
    assert_eq!(v["size"], 10 * GIB);
    assert_eq!(v["nas"]["path"], "/vol_new");

    // Duplicate name and invalid names are refused at once.
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "vol_new", "svm": {"name": "svm1"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["code"], "917526");
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "bad-name", "svm.name": "svm1"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "917887");
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "x1", "svm": {"name": "nosuch"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["target"], "svm");
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "x2", "svm": {"name": "svm1"}, "nas": {"path": "/pve_images"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918252");
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "x3", "svm": {"name": "svm1"}, "colour": "red"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "262179");
}

#[tokio::test]
async fn return_timeout_waits_for_the_job() {
    let t = start_default().await;
    let (s, body) = t
        .post(
            "/api/storage/volumes?return_timeout=30",
            json!({"name": "vol_sync", "svm": {"name": "svm1"}, "size": 1073741824}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let job = t.wait_job(body["job"]["uuid"].as_str().unwrap()).await;
    assert_eq!(job["state"], "success");
    // Visible immediately after the 201.
    let uuid = t.volume_uuid("vol_sync").await;
    let (s, _) = t
        .patch(
            &format!("/api/storage/volumes/{uuid}?return_timeout=10"),
            json!({"comment": "hello"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=comment"))
        .await;
    assert_eq!(v["comment"], "hello");
    let (s, e) = t
        .patch(
            &format!("/api/storage/volumes/{uuid}?return_timeout=121"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["target"], "return_timeout");
    let (s, _) = t
        .delete(&format!("/api/storage/volumes/{uuid}?return_timeout=10"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t.get(&format!("/api/storage/volumes/{uuid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mount_unmount_offline() {
    let t = start_default().await;
    let uuid = t.volume_uuid("data01").await;
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}"),
            json!({"nas": {"path": "/data01"}}),
        )
        .await,
    )
    .await;
    let (_, v) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=nas.path"))
        .await;
    assert_eq!(v["nas"]["path"], "/data01");
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}"),
            json!({"nas": {"path": ""}}),
        )
        .await,
    )
    .await;
    let (_, v) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=nas.path"))
        .await;
    assert!(v["nas"]["path"].is_null(), "{v}");
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}"),
            json!({"nas.path": "/data01"}),
        )
        .await,
    )
    .await;
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}"),
            json!({"state": "offline"}),
        )
        .await,
    )
    .await;
    let (_, v) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}?fields=nas.path,state"
        ))
        .await;
    assert_eq!(v["state"], "offline");
    assert!(v["nas"]["path"].is_null());
    // Mounting an offline volume fails inside the job.
    let job = t
        .job_of(
            t.patch(
                &format!("/api/storage/volumes/{uuid}"),
                json!({"nas": {"path": "/data01"}}),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 9437885);
    assert_eq!(job["error"]["code"], "9437885");
    // Files API refuses offline volumes.
    let (s, e) = t.get(&format!("/api/storage/volumes/{uuid}/files")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "917752");
}

#[tokio::test]
async fn snapshots_lifecycle() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    let base = format!("/api/storage/volumes/{uuid}/snapshots");
    t.ok_job(
        t.post(&base, json!({"name": "snap1", "comment": "first"}))
            .await,
    )
    .await;
    let (s, list) = t
        .get(&format!(
            "{base}?name=snap1&fields=name,comment,create_time,owners,volume"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["num_records"], 1);
    let snap = &list["records"][0];
    assert_eq!(snap["comment"], "first");
    assert_eq!(snap["volume"]["name"], "pve_images");
    assert_eq!(snap["owners"], json!([]));
    let snap_uuid = snap["uuid"].as_str().unwrap().to_string();
    let (s, one) = t.get(&format!("{base}/{snap_uuid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["name"], "snap1");

    let (s, e) = t.post(&base, json!({"name": "snap1"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["code"], "525059");
    let (s, e) = t.post(&base, json!({"name": "bad name!"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "1638518");
    let (s, e) = t.post(&base, json!({"comment": "x"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["target"], "name");

    t.ok_job(
        t.patch(
            &format!("{base}/{snap_uuid}"),
            json!({"comment": "renamed", "name": "snap1b"}),
        )
        .await,
    )
    .await;
    let (_, one) = t.get(&format!("{base}/{snap_uuid}?fields=comment")).await;
    assert_eq!(one["name"], "snap1b");
    assert_eq!(one["comment"], "renamed");

    t.ok_job(t.delete(&format!("{base}/{snap_uuid}")).await)
        .await;
    let (s, e) = t.get(&format!("{base}/{snap_uuid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "4");
    let (s, _) = t.delete(&format!("{base}/{snap_uuid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn snapshot_restore_reverts_files() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    let base = format!("/api/storage/volumes/{uuid}/snapshots");
    t.ok_job(t.post(&base, json!({"name": "before"})).await)
        .await;
    t.ok_job(t.post(&base, json!({"name": "later"})).await)
        .await;
    let (s, _) = t
        .delete(&format!(
            "/api/storage/volumes/{uuid}/files/{}",
            enc("images/101/vm-101-disk-0.raw")
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}",
            enc("images/101/vm-101-disk-0.raw")
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, e) = t
        .patch(
            &format!("/api/storage/volumes/{uuid}?restore_to.snapshot.name=nosuch"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918251");
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}?restore_to.snapshot.name=before"),
            json!({}),
        )
        .await,
    )
    .await;
    let (s, f) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}",
            enc("images/101/vm-101-disk-0.raw")
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    // Newer snapshots are gone after a restore.
    let (_, snaps) = t.get(&base).await;
    let names: Vec<&str> = snaps["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["before"]);

    // The CLI passthrough restores synchronously.
    let (s, _) = t
        .delete(&format!(
            "/api/storage/volumes/{uuid}/files/{}?recurse=true",
            enc("images/100")
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = t
        .post(
            "/api/private/cli/volume/snapshot/restore",
            json!({"vserver": "svm1", "volume": "pve_images", "snapshot": "before"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}",
            enc("images/100/vm-100-disk-0.qcow2")
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = t
        .post(
            "/api/private/cli/volume/snapshot/restore",
            json!({"vserver": "svm1", "volume": "pve_images", "snapshot": "zzz"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().contains("zzz"));
}

#[tokio::test]
async fn file_clone_and_space_accounting() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    let (_, before) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=space"))
        .await;
    let used_before = before["space"]["used"].as_u64().unwrap();
    assert_eq!(used_before, 56 * GIB);

    let (s, _) = t
        .post(
            &format!("/api/storage/volumes/{uuid}/files/{}", enc("images/102")),
            json!({"type": "directory", "unix_permissions": "755"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let job = t
        .ok_job(
            t.post(
                "/api/storage/file/clone",
                json!({"volume": {"uuid": uuid, "name": "pve_images"}, "source_path": "images/100/vm-100-disk-0.qcow2", "destination_path": "images/102/vm-102-disk-0.qcow2"}),
            )
            .await,
        )
        .await;
    assert_eq!(job["description"], "POST /api/storage/file/clone");
    let (s, f) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}?return_metadata=true",
            enc("images/102/vm-102-disk-0.qcow2")
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["records"][0]["size"], 32 * GIB);
    assert_eq!(f["records"][0]["type"], "file");

    let (_, after) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=space"))
        .await;
    assert_eq!(
        after["space"]["used"].as_u64().unwrap(),
        used_before,
        "a fresh clone costs no blocks"
    );
    assert_eq!(
        after["space"]["logical_space"]["used"].as_u64().unwrap(),
        88 * GIB
    );

    // A write through the hook diverges the clone and costs space.
    let resp = t
        .http
        .post(t.ontap("/_sim/ontap/write"))
        .json(&json!({"volume": "pve_images", "path": "images/102/vm-102-disk-0.qcow2", "bytes": 1 << 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, after) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=space"))
        .await;
    assert_eq!(
        after["space"]["used"].as_u64().unwrap(),
        used_before + (1 << 20)
    );

    // Existing destination without overwrite fails in the job; with overwrite it succeeds.
    let clone = |over: bool| json!({"volume": {"name": "pve_images"}, "source_path": "images/100/vm-100-disk-1.raw", "destination_path": "images/102/vm-102-disk-0.qcow2", "overwrite_destination": over});
    let job = t
        .job_of(t.post("/api/storage/file/clone", clone(false)).await)
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 13565952);
    assert!(
        job["message"].as_str().unwrap().contains("already exists"),
        "{job}"
    );
    t.ok_job(t.post("/api/storage/file/clone", clone(true)).await)
        .await;

    // Missing source, missing destination directory.
    let job = t
        .job_of(t.post("/api/storage/file/clone", json!({"volume": {"uuid": uuid}, "source_path": "images/100/nope.raw", "destination_path": "images/102/x.raw"})).await)
        .await;
    assert_eq!(job["state"], "failure");
    assert!(job["message"].as_str().unwrap().contains("does not exist"));
    let job = t
        .job_of(
            t.post("/api/storage/file/clone", json!({"volume": {"uuid": uuid}, "source_path": "images/100/vm-100-disk-1.raw", "destination_path": "images/999/x.raw"}))
                .await,
        )
        .await;
    assert_eq!(job["state"], "failure");
    assert!(job["message"].as_str().unwrap().contains("directory"));

    // Synchronous validation errors.
    let (s, e) = t
        .post("/api/storage/file/clone", json!({"volume": {"uuid": uuid}, "source_path": "images/100/vm-100-disk-1.raw", "destination_path": "/abs.raw"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "917812");
    let (s, e) = t
        .post("/api/storage/file/clone", json!({"volume": {"uuid": uuid, "name": "data01"}, "source_path": "a", "destination_path": "b"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918236");
    let (s, _) = t
        .post(
            "/api/storage/file/clone",
            json!({"volume": {"uuid": uuid}, "source_path": "a"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Clone from a snapshot image.
    t.ok_job(
        t.post(
            &format!("/api/storage/volumes/{uuid}/snapshots"),
            json!({"name": "s1"}),
        )
        .await,
    )
    .await;
    t.ok_job(
        t.post(
            "/api/storage/file/clone?return_timeout=0",
            json!({"volume": {"uuid": uuid}, "source_path": ".snapshot/s1/images/101/vm-101-disk-0.raw", "destination_path": "images/102/from-snap.raw"}),
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn files_api() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    let (s, root) = t.get(&format!("/api/storage/volumes/{uuid}/files")).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = root["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![".", "..", "images"]);
    assert_eq!(root["records"][2]["type"], "directory");

    let (_, dir) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}?fields=size",
            enc("images/100")
        ))
        .await;
    let files: Vec<(String, u64)> = dir["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "file")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            ("vm-100-disk-0.qcow2".to_string(), 32 * GIB),
            ("vm-100-disk-1.raw".to_string(), 8 * GIB)
        ]
    );
    assert_eq!(dir["records"][0]["path"], "images/100");
    let (_, only_files) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}/files/{}?type=file",
            enc("images/100")
        ))
        .await;
    assert_eq!(only_files["num_records"], 2);
    // Unencoded slashes are accepted as well.
    let (s, _) = t
        .get(&format!("/api/storage/volumes/{uuid}/files/images/100"))
        .await;
    assert_eq!(s, StatusCode::OK);

    let mk = |p: &str| format!("/api/storage/volumes/{uuid}/files/{}", enc(p));
    let (s, e) = t
        .post(&mk("images/200"), json!({"type": "directory"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "6488084");
    let (s, e) = t
        .post(&mk("images/200"), json!({"unix_permissions": "755"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "6488085");
    let (s, _) = t
        .post(
            &mk("images/200"),
            json!({"type": "directory", "unix_permissions": "750"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = t
        .post(
            &mk("images/200"),
            json!({"type": "directory", "unix_permissions": "750"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["code"], "6488118");
    let (s, e) = t
        .post(
            &mk("nope/deeper"),
            json!({"type": "directory", "unix_permissions": "755"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "6684674");
    let (_, meta) = t
        .get(&format!("{}?return_metadata=true", mk("images/200")))
        .await;
    assert_eq!(meta["records"][0]["unix_permissions"], 750);
    assert_eq!(meta["records"][0]["is_empty"], true);

    let (s, e) = t.delete(&mk("images/100")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "131138");
    let (s, _) = t
        .delete(&format!("{}?recurse=true", mk("images/100")))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = t.get(&mk("images/100")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "6684674");
    let (s, e) = t
        .get("/api/storage/volumes/00000000-0000-0000-0000-000000000000/files")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "918235");
}

async fn snapshot_uuid(t: &TestSim, vol: &str, name: &str) -> String {
    let (_, l) = t
        .get(&format!("/api/storage/volumes/{vol}/snapshots?name={name}"))
        .await;
    l["records"][0]["uuid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn flexclone_lifecycle_busy_snapshot_and_recovery_queue() {
    let t = start_default().await;
    let parent = t.volume_uuid("pve_images").await;
    t.ok_job(
        t.post(
            &format!("/api/storage/volumes/{parent}/snapshots"),
            json!({"name": "base"}),
        )
        .await,
    )
    .await;
    let (_, parent_before) = t
        .get(&format!("/api/storage/volumes/{parent}?fields=space"))
        .await;

    let (s, e) = t
        .post("/api/storage/volumes", json!({"name": "c1", "svm": {"name": "svm1"}, "clone": {"is_flexclone": true, "parent_volume": {"name": "nosuch"}}}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "524601");
    let (s, e) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "c1", "svm": {"name": "svm1"}, "size": "1G", "clone": {"is_flexclone": true, "parent_volume": {"name": "pve_images"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918247");

    let body = json!({"name": "pve_clone1", "svm": {"name": "svm1"}, "clone": {"is_flexclone": true, "parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": "base"}}});
    t.ok_job(t.post("/api/storage/volumes", body).await).await;
    let clone = t.volume_uuid("pve_clone1").await;
    let (_, c) = t
        .get(&format!(
            "/api/storage/volumes/{clone}?fields=clone,nas.path,space,nas.export_policy.name"
        ))
        .await;
    assert_eq!(c["clone"]["is_flexclone"], true);
    assert_eq!(c["clone"]["parent_volume"]["name"], "pve_images");
    assert_eq!(c["clone"]["parent_snapshot"]["name"], "base");
    assert!(c["nas"]["path"].is_null());
    assert_eq!(c["nas"]["export_policy"]["name"], "default");
    assert_eq!(
        c["space"]["used"], 0,
        "a fresh FlexClone shares every block: {c}"
    );
    let (_, p) = t
        .get(&format!(
            "/api/storage/volumes/{parent}?fields=clone.has_flexclone,space"
        ))
        .await;
    assert_eq!(p["clone"]["has_flexclone"], true);
    assert_eq!(p["space"]["used"], parent_before["space"]["used"]);
    let (_, clones) = t.get("/api/storage/volumes?clone.is_flexclone=true&clone.parent_volume.name=pve_images&fields=clone.parent_snapshot.name").await;
    assert_eq!(clones["num_records"], 1);

    // The clone holds the snapshot's files; mount it.
    let (_, f) = t
        .get(&format!(
            "/api/storage/volumes/{clone}/files/{}",
            enc("images/101")
        ))
        .await;
    assert!(f["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "vm-101-disk-0.raw"));
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{clone}"),
            json!({"nas": {"path": "/pve_clone1"}}),
        )
        .await,
    )
    .await;

    // Busy snapshot; parent with clones cannot be deleted.
    let snap = snapshot_uuid(&t, &parent, "base").await;
    let (_, s) = t
        .get(&format!(
            "/api/storage/volumes/{parent}/snapshots/{snap}?fields=owners"
        ))
        .await;
    assert_eq!(s["owners"], json!(["volume_clone"]));
    let job = t
        .job_of(
            t.delete(&format!("/api/storage/volumes/{parent}/snapshots/{snap}"))
                .await,
        )
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 1638555);
    let job = t
        .job_of(t.delete(&format!("/api/storage/volumes/{parent}")).await)
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 524615);

    // Deleting the clone puts it in the recovery queue, which still pins the snapshot.
    t.ok_job(t.delete(&format!("/api/storage/volumes/{clone}")).await)
        .await;
    let (s, _) = t.get(&format!("/api/storage/volumes/{clone}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, q) = t
        .get("/api/private/cli/volume/recovery-queue?vserver=svm1&fields=volume,original_name")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(q["num_records"], 1);
    assert_eq!(q["records"][0]["original_name"], "pve_clone1");
    let queued = q["records"][0]["volume"].as_str().unwrap().to_string();
    let job = t
        .job_of(
            t.delete(&format!("/api/storage/volumes/{parent}/snapshots/{snap}"))
                .await,
        )
        .await;
    assert_eq!(
        job["code"], 1638555,
        "the queued clone still holds the snapshot"
    );
    // The name is free again.
    let (_, again) = t.get("/api/storage/volumes?name=pve_clone1").await;
    assert_eq!(again["num_records"], 0);

    let (s, _) = t
        .post(
            "/api/private/cli/volume/recovery-queue/purge",
            json!({"vserver": "svm1", "volume": queued}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, q) = t.get("/api/private/cli/volume/recovery-queue").await;
    assert_eq!(q["num_records"], 0);
    t.ok_job(
        t.delete(&format!("/api/storage/volumes/{parent}/snapshots/{snap}"))
            .await,
    )
    .await;
}

#[tokio::test]
async fn flexclone_without_snapshot_split_and_mount_at_create() {
    let t = start_default().await;
    let parent = t.volume_uuid("pve_images").await;
    let (s, body) = t
        .post(
            "/api/storage/volumes?return_timeout=30&return_records=true",
            json!({"name": "c2", "svm.name": "svm1", "nas.path": "/c2", "clone.is_flexclone": true, "clone.parent_volume.uuid": parent}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let clone = body["records"][0]["uuid"].as_str().unwrap().to_string();
    let (_, c) = t
        .get(&format!(
            "/api/storage/volumes/{clone}?fields=clone,nas.path"
        ))
        .await;
    assert_eq!(c["nas"]["path"], "/c2");
    let base = c["clone"]["parent_snapshot"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(base.starts_with("clone_c2."), "{base}");
    let (_, snaps) = t
        .get(&format!(
            "/api/storage/volumes/{parent}/snapshots?name={base}"
        ))
        .await;
    assert_eq!(snaps["num_records"], 1);

    // Split: the clone becomes independent and owns its blocks.
    let (s, e) = t
        .patch(
            &format!("/api/storage/volumes/{parent}"),
            json!({"clone": {"split_initiated": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "918248");
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{clone}"),
            json!({"clone": {"split_initiated": true}}),
        )
        .await,
    )
    .await;
    let (_, c) = t
        .get(&format!("/api/storage/volumes/{clone}?fields=clone,space"))
        .await;
    assert_eq!(c["clone"]["is_flexclone"], false);
    assert!(c["clone"]["parent_volume"].is_null());
    assert_eq!(c["space"]["used"].as_u64().unwrap(), 56 * GIB);
    let snap = snapshot_uuid(&t, &parent, &base).await;
    t.ok_job(
        t.delete(&format!("/api/storage/volumes/{parent}/snapshots/{snap}"))
            .await,
    )
    .await;
    // Force delete bypasses the queue.
    t.ok_job(
        t.delete(&format!("/api/storage/volumes/{clone}?force=true"))
            .await,
    )
    .await;
    let (_, q) = t.get("/api/private/cli/volume/recovery-queue").await;
    assert_eq!(q["num_records"], 0);
}

#[tokio::test]
async fn jobs_collection_and_unknown_job() {
    let t = start_default().await;
    let uuid = t.volume_uuid("data01").await;
    t.ok_job(
        t.patch(
            &format!("/api/storage/volumes/{uuid}"),
            json!({"comment": "x"}),
        )
        .await,
    )
    .await;
    let (s, jobs) = t
        .get("/api/cluster/jobs?state=success&fields=description")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(jobs["num_records"], 1);
    assert_eq!(
        jobs["records"][0]["description"],
        format!("PATCH /api/storage/volumes/{uuid}")
    );
    let (s, e) = t
        .get("/api/cluster/jobs/3b1a2c0e-0000-0000-0000-000000000000")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "4");
}

#[tokio::test]
async fn finished_jobs_are_logged_as_events() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    t.ok_job(
        t.post(
            &format!("/api/storage/volumes/{uuid}/snapshots"),
            json!({"name": "ev1"}),
        )
        .await,
    )
    .await;
    let job = t
        .job_of(
            t.post(
                &format!("/api/storage/volumes/{uuid}/snapshots"),
                json!({"name": "ev2"}),
            )
            .await,
        )
        .await;
    assert_eq!(job["state"], "success");
    let inv = t.inventory().await;
    let events: Vec<(String, String)> = inv["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["api"] == "ontap")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "snapshot_create");
    assert!(events[0].1.contains("ev1"));
    assert!(events[1].1.contains("ev2"));
}

#[tokio::test]
async fn filters_on_computed_fields() {
    let t = start_default().await;
    // space.used needs the full record (not the cheap lookup view); both paths must agree.
    let (s, used) = t
        .get("/api/storage/volumes?space.used=%3E0&fields=space.used")
        .await;
    assert_eq!(s, StatusCode::OK, "{used}");
    assert_eq!(used["num_records"], 1);
    assert_eq!(used["records"][0]["name"], "pve_images");
    let (_, by_name) = t
        .get("/api/storage/volumes?name=pve_images&fields=space.used")
        .await;
    assert_eq!(
        by_name["records"][0]["space"]["used"],
        used["records"][0]["space"]["used"]
    );
}

#[tokio::test]
async fn zero_retention_deletes_at_once() {
    let mut sc = pve_ontap_sim::Scenario::default_scenario();
    sc.ontap.volume_recovery_retention_hours = 0;
    let t = start_scenario(sc).await;
    let uuid = t.volume_uuid("data01").await;
    t.ok_job(t.delete(&format!("/api/storage/volumes/{uuid}")).await)
        .await;
    let (_, q) = t.get("/api/private/cli/volume/recovery-queue").await;
    assert_eq!(q["num_records"], 0);
}
