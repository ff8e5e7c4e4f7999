//! Conformance of the read-only ONTAP routes: auth, cluster, SVMs, LIFs, export policies, volume collections
//! (filters, fields, paging), errors.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn auth_is_required() {
    let t = start_default().await;
    let resp = t.http.get(t.ontap("/api/cluster")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "6");
    let resp = t
        .http
        .get(t.ontap("/api/cluster"))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Hooks need no auth.
    let resp = t.http.get(t.ontap("/_sim/inventory")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn cluster_svms_lifs_policies() {
    let t = start_default().await;
    let (s, c) = t.get("/api/cluster").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["name"], "sim-cluster");
    assert_eq!(c["version"]["generation"], 9);
    assert_eq!(c["version"]["major"], 16);
    assert_eq!(c["version"]["minor"], 1);
    assert!(c["version"]["full"]
        .as_str()
        .unwrap()
        .starts_with("NetApp Release 9.16.1"));

    let (s, svms) = t.get("/api/svm/svms?name=svm1&fields=state").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(svms["num_records"], 1);
    assert_eq!(svms["records"][0]["state"], "running");
    let svm_uuid = svms["records"][0]["uuid"].as_str().unwrap().to_string();
    let (s, one) = t.get(&format!("/api/svm/svms/{svm_uuid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["name"], "svm1");

    let (s, lifs) = t.get("/api/network/ip/interfaces?ip.address=192.0.2.10&fields=ip.address,svm.name,svm.uuid,state,services").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lifs["num_records"], 1);
    let lif = &lifs["records"][0];
    assert_eq!(lif["svm"]["name"], "svm1");
    assert_eq!(lif["svm"]["uuid"], svm_uuid.as_str());
    assert_eq!(lif["ip"]["address"], "192.0.2.10");
    assert_eq!(lif["state"], "up");
    let (_, none) = t
        .get("/api/network/ip/interfaces?ip.address=192.0.2.99")
        .await;
    assert_eq!(none["num_records"], 0);
    let (_, by_svm) = t
        .get("/api/network/ip/interfaces?svm.name=svm1&services=data_nfs")
        .await;
    assert_eq!(by_svm["num_records"], 1);

    let (s, pols) = t
        .get("/api/protocols/nfs/export-policies?svm.name=svm1&name=default&fields=id,name,rules")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pols["num_records"], 1);
    assert!(pols["records"][0]["id"].as_u64().unwrap() > 0);
    assert_eq!(
        pols["records"][0]["rules"][0]["clients"][0]["match"],
        "0.0.0.0/0"
    );
}

#[tokio::test]
async fn volume_collection_default_fields_and_filters() {
    let t = start_default().await;
    let (s, all) = t.get("/api/storage/volumes").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all["num_records"], 3);
    let rec = &all["records"][0];
    // Default set: keys and links only.
    let keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{rec}");
    assert!(
        rec["uuid"].is_string()
            && rec["name"].is_string()
            && rec["_links"]["self"]["href"].is_string()
    );

    let (_, pve) = t.get("/api/storage/volumes?name=pve_*").await;
    assert_eq!(pve["num_records"], 2);
    let (_, alt) = t.get("/api/storage/volumes?name=data01|pve_backup").await;
    assert_eq!(alt["num_records"], 2);
    let (_, not) = t.get("/api/storage/volumes?name=!pve_*").await;
    assert_eq!(not["num_records"], 1);
    assert_eq!(not["records"][0]["name"], "data01");
    let (_, by_path) = t
        .get("/api/storage/volumes?nas.path=/pve_images&svm.name=svm1&fields=nas.path,svm")
        .await;
    assert_eq!(by_path["num_records"], 1);
    assert_eq!(by_path["records"][0]["nas"]["path"], "/pve_images");
    assert_eq!(by_path["records"][0]["svm"]["name"], "svm1");
    let (_, unmounted) = t.get("/api/storage/volumes?nas.path=null").await;
    assert_eq!(unmounted["num_records"], 1);
    let (_, clones) = t.get("/api/storage/volumes?clone.is_flexclone=true").await;
    assert_eq!(clones["num_records"], 0);
    let (_, big) = t.get("/api/storage/volumes?size=>500000000000").await;
    assert_eq!(big["num_records"], 2);

    // `*` leaves out expensive fields (nas.path); `**` includes them.
    let (_, star) = t.get("/api/storage/volumes?name=pve_images&fields=*").await;
    let r = &star["records"][0];
    assert_eq!(r["state"], "online");
    assert!(r["space"]["size"].is_u64());
    assert!(r["nas"]["path"].is_null(), "nas.path is expensive: {r}");
    let (_, star2) = t
        .get("/api/storage/volumes?name=pve_images&fields=**")
        .await;
    assert_eq!(star2["records"][0]["nas"]["path"], "/pve_images");

    let (s, bad) = t.get("/api/storage/volumes?fields=nonsense").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "262197");
    assert_eq!(bad["error"]["target"], "fields");
    let (s, bad) = t.get("/api/storage/volumes?colour=blue").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "262179");

    let (_, count) = t.get("/api/storage/volumes?return_records=false").await;
    assert_eq!(count["num_records"], 3);
    assert!(count.get("records").is_none());
}

#[tokio::test]
async fn volume_get_one_and_not_found() {
    let t = start_default().await;
    let uuid = t.volume_uuid("pve_images").await;
    let (s, v) = t.get(&format!("/api/storage/volumes/{uuid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "pve_images");
    assert_eq!(v["svm"]["name"], "svm1");
    assert_eq!(v["state"], "online");
    assert!(
        v["space"]["logical_space"].is_null(),
        "space.logical_space is expensive"
    );
    let (_, v) = t
        .get(&format!("/api/storage/volumes/{uuid}?fields=space"))
        .await;
    let logical = v["space"]["logical_space"]["used"].as_u64().unwrap();
    assert_eq!(logical, (32u64 + 8 + 16) << 30);
    let (_, v) = t
        .get(&format!(
            "/api/storage/volumes/{uuid}?fields=nas.path,clone"
        ))
        .await;
    assert_eq!(v["nas"]["path"], "/pve_images");
    assert_eq!(v["clone"]["is_flexclone"], false);

    let (s, e) = t
        .get("/api/storage/volumes/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        e,
        json!({"error": {"message": "entry doesn't exist", "code": "4", "target": "uuid"}})
    );
    let (s, e) = t.get("/api/nothing/here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(e["error"]["code"].is_string());
}

#[tokio::test]
async fn pagination_follows_next_links() {
    let mut opts = pve_ontap_sim::SimOptions::ephemeral(std::path::PathBuf::new());
    opts.generate_volumes = Some(2500);
    let t = start_with(opts).await;
    let (_, count) = t.get("/api/storage/volumes?return_records=false").await;
    assert_eq!(count["num_records"], 2503);

    let mut next =
        Some("/api/storage/volumes?name=gen_vol_*&max_records=1000&fields=svm.name".to_string());
    let mut names = Vec::new();
    let mut pages = 0;
    while let Some(href) = next {
        let (s, page) = t.get(&href).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        pages += 1;
        assert!(page["num_records"].as_u64().unwrap() <= 1000);
        for r in page["records"].as_array().unwrap() {
            assert_eq!(r["svm"]["name"], "svm1");
            names.push(r["name"].as_str().unwrap().to_string());
        }
        next = page["_links"]["next"]["href"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 2500);
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 2500);
}

#[tokio::test]
async fn order_by_sorts() {
    let t = start_default().await;
    let (_, asc) = t
        .get("/api/storage/volumes?order_by=size%20desc&fields=size")
        .await;
    let sizes: Vec<u64> = asc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["size"].as_u64().unwrap())
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sizes, sorted);
}

#[tokio::test]
async fn readonly_role_gets_403_on_writes() {
    let mut sc = pve_ontap_sim::Scenario::default_scenario();
    sc.ontap
        .users
        .push(pve_ontap_sim::ontap::scenario::UserSpec {
            username: "viewer".into(),
            password: "view123".into(),
            role: "readonly".into(),
        });
    let t = start_scenario(sc).await;
    let get = t
        .http
        .get(t.ontap("/api/storage/volumes"))
        .basic_auth("viewer", Some("view123"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let post = t
        .http
        .post(t.ontap("/api/storage/volumes"))
        .basic_auth("viewer", Some("view123"))
        .json(&json!({"name": "nope", "svm": {"name": "svm1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = post.json().await.unwrap();
    assert_eq!(body["error"]["code"], "6");
    assert_eq!(body["error"]["message"], "not authorized for that command");
}

#[tokio::test]
async fn accept_application_json_drops_hal_links_but_keeps_next() {
    let t = start_default().await;
    let resp = t
        .http
        .get(t.ontap("/api/storage/volumes?max_records=1&fields=svm"))
        .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["records"][0].get("_links").is_none(), "{body}");
    assert!(body["records"][0]["svm"].get("_links").is_none());
    assert!(body["_links"]["self"].is_null());
    assert!(body["_links"]["next"]["href"].is_string());
    let resp = t
        .http
        .get(t.ontap("/api/cluster"))
        .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/hal+json");
}

#[tokio::test]
async fn pve_listener_negotiates_http1_only() {
    let t = start_default().await;
    let pve = t
        .http
        .get(format!("{}/_sim/stats", t.running.pve_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(pve.version(), reqwest::Version::HTTP_11);
    let ontap = t.http.get(t.ontap("/_sim/stats")).send().await.unwrap();
    assert_eq!(ontap.status(), StatusCode::OK);
}

#[tokio::test]
async fn instance_lookups_and_parameter_errors() {
    let t = start_default().await;
    let missing = "00000000-0000-0000-0000-000000000000";
    for path in [
        format!("/api/svm/svms/{missing}"),
        format!("/api/network/ip/interfaces/{missing}"),
        "/api/protocols/nfs/export-policies/1".to_string(),
        format!("/api/storage/volumes/{missing}/snapshots"),
        format!("/api/cluster/jobs/{missing}"),
    ] {
        let (s, e) = t.get(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
        assert_eq!(e["error"]["code"], "4", "{path}");
    }
    let (s, e) = t
        .patch(
            &format!("/api/storage/volumes/{missing}"),
            json!({"comment": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "4");
    let (s, e) = t.delete(&format!("/api/storage/volumes/{missing}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "4");

    let (_, lifs) = t.get("/api/network/ip/interfaces").await;
    let lif_uuid = lifs["records"][0]["uuid"].as_str().unwrap().to_string();
    let (s, lif) = t
        .get(&format!("/api/network/ip/interfaces/{lif_uuid}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lif["ip"]["address"], "192.0.2.10");
    let (_, pols) = t.get("/api/protocols/nfs/export-policies").await;
    let id = pols["records"][0]["id"].as_u64().unwrap();
    let (s, pol) = t
        .get(&format!("/api/protocols/nfs/export-policies/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pol["name"], "default");

    for bad in [
        "max_records=0",
        "max_records=abc",
        "order_by=nonsense",
        "return_records=maybe",
    ] {
        let (s, e) = t.get(&format!("/api/storage/volumes?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e["error"]["code"].is_string());
    }
    let (s, e) = t
        .ontap_req(
            reqwest::Method::PUT,
            "/api/storage/volumes",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{e}");
    let (s, e) = t
        .post("/api/storage/volumes", json!(["not", "an", "object"]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "2");
}
