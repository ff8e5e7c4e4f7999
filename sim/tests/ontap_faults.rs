//! Fault injection through `/_sim/faults`, statistics, reset, and the NFS view of the shared world.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn add_fault(t: &TestSim, spec: serde_json::Value) {
    let resp = t
        .http
        .post(t.ontap("/_sim/faults"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
}

#[tokio::test]
async fn next_n_calls_fail_with_ontap_error() {
    let t = start_default().await;
    add_fault(
        &t,
        json!({"api": "ontap", "method": "GET", "route": "/api/storage/volumes/{uuid}", "count": 2,
               "error": {"status": 503, "code": "13107405", "message": "temporarily busy"}}),
    )
    .await;
    let uuid = t.volume_uuid("pve_images").await; // the collection route is not affected
    for _ in 0..2 {
        let (s, e) = t.get(&format!("/api/storage/volumes/{uuid}")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e["error"]["code"], "13107405");
        assert_eq!(e["error"]["message"], "temporarily busy");
    }
    let (s, _) = t.get(&format!("/api/storage/volumes/{uuid}")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn every_kth_call_and_clear() {
    let t = start_default().await;
    add_fault(
        &t,
        json!({"route": "/api/cluster", "every": 2, "error": {"status": 500}}),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(t.get("/api/cluster").await.0.as_u16());
    }
    assert_eq!(statuses, vec![200, 500, 200, 500]);
    let resp = t.http.delete(t.ontap("/_sim/faults")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for _ in 0..4 {
        assert_eq!(t.get("/api/cluster").await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn dropped_connection_and_latency() {
    let t = start_default().await;
    add_fault(
        &t,
        json!({"route": "/api/svm/svms", "drop_connection": true, "count": 1}),
    )
    .await;
    let err = t
        .http
        .get(t.ontap("/api/svm/svms"))
        .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
        .send()
        .await;
    assert!(
        err.is_err(),
        "the connection must be closed without a response"
    );
    assert_eq!(t.get("/api/svm/svms").await.0, StatusCode::OK);

    add_fault(&t, json!({"route": "/api/cluster", "latency_ms": 300})).await;
    let started = std::time::Instant::now();
    assert_eq!(t.get("/api/cluster").await.0, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn failing_jobs() {
    let t = start_default().await;
    add_fault(&t, json!({"api": "ontap", "count": 1, "async_failure": {"operation": "file_clone", "code": "13565952", "message": "Clone start failed: injected"}}))
        .await;
    let uuid = t.volume_uuid("pve_images").await;
    let body = json!({"volume": {"uuid": uuid}, "source_path": "images/100/vm-100-disk-1.raw", "destination_path": "images/100/copy.raw"});
    let job = t
        .job_of(t.post("/api/storage/file/clone", body.clone()).await)
        .await;
    assert_eq!(job["state"], "failure");
    assert_eq!(job["code"], 13565952);
    assert_eq!(job["message"], "Clone start failed: injected");
    // With return_timeout the failure comes back as the error response.
    add_fault(&t, json!({"api": "ontap", "count": 1, "async_failure": {"operation": "file_clone", "code": "13565952", "message": "again"}}))
        .await;
    let (s, e) = t
        .post("/api/storage/file/clone?return_timeout=20", body.clone())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["message"], "again");
    t.ok_job(t.post("/api/storage/file/clone", body).await)
        .await;
}

#[tokio::test]
async fn invalid_fault_specs_are_refused() {
    let t = start_default().await;
    for bad in [
        json!({"route": "/api/cluster"}),
        json!({"error": {"status": 200}}),
        json!({"rate": 2.0, "error": {"status": 500}}),
        json!({"nonsense": 1}),
    ] {
        let resp = t
            .http
            .post(t.ontap("/_sim/faults"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn stats_count_per_route_template() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    for _ in 0..3 {
        t.get(&format!("/api/storage/volumes/{uuid}")).await;
    }
    let stats: serde_json::Value = t
        .http
        .get(t.ontap("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/api/storage/volumes/{uuid}" && r["method"] == "GET")
        .expect("route stats");
    assert_eq!(entry["count"], 3);
    assert_eq!(entry["api"], "ontap");
    assert_eq!(entry["statuses"]["200"], 3);
}

#[tokio::test]
async fn reset_restores_the_scenario() {
    let t = start_default().await;
    let uuid = t.volume_uuid("data01").await;
    t.ok_job(t.delete(&format!("/api/storage/volumes/{uuid}")).await)
        .await;
    let resp = t
        .http
        .post(t.running.pve_url() + "/_sim/reset")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        t.volume_uuid("data01").await,
        uuid,
        "scenario UUIDs are stable across resets"
    );
    let inv = t.inventory().await;
    assert_eq!(inv["ontap"]["recovery_queue"], json!([]));
    assert!(inv["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "pve_images"));
}

#[tokio::test]
async fn nfs_view_follows_lif_and_junction() {
    let t = start_default().await;
    let sim = t.running.sim();
    sim.read(|w| {
        let v = w
            .nfs_volume("192.0.2.10", "/pve_images")
            .expect("pve_images via its LIF");
        assert_eq!(v.name, "pve_images");
        assert!(w.nfs_volume("192.0.2.10", "/pve_images/").is_some());
        assert!(w.nfs_volume("192.0.2.99", "/pve_images").is_none());
        assert!(w.nfs_volume("192.0.2.10", "/data01").is_none());
        let names: Vec<String> = v
            .list_dir("images/100")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["vm-100-disk-0.qcow2", "vm-100-disk-1.raw"]);
    });
    // A file clone made through ONTAP is visible through the NFS view.
    let uuid = t.volume_uuid("pve_images").await;
    t.ok_job(
        t.post("/api/storage/file/clone", json!({"volume": {"uuid": uuid}, "source_path": "images/101/vm-101-disk-0.raw", "destination_path": "images/101/vm-101-disk-9.raw"}))
            .await,
    )
    .await;
    sim.read(|w| {
        let v = w.nfs_volume("192.0.2.10", "/pve_images").unwrap();
        assert_eq!(
            v.stat("images/101/vm-101-disk-9.raw").unwrap().size,
            16 << 30
        );
    });
}
