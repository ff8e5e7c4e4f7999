//! `--state` persistence: a restarted simulator (library or binary) keeps the world.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use pve_ontap_sim::SimOptions;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn restart_with_state_keeps_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let tls = dir.path().join("tls");
    let opts = || {
        let mut o = SimOptions::ephemeral(tls.clone());
        o.state_path = Some(state.clone());
        o
    };
    let t = start_with(opts()).await;
    let uuid = t.volume_uuid("pve_images").await;
    t.ok_job(
        t.post(
            &format!("/api/storage/volumes/{uuid}/snapshots"),
            json!({"name": "persisted"}),
        )
        .await,
    )
    .await;
    t.ok_job(
        t.post(
            "/api/storage/volumes",
            json!({"name": "vol_kept", "svm": {"name": "svm1"}}),
        )
        .await,
    )
    .await;
    let ca_before = t.running.ca_pem().to_string();
    t.running.shutdown().await;

    let t2 = start_with(opts()).await;
    assert_eq!(
        t2.running.ca_pem(),
        ca_before,
        "the CA in the TLS directory is reused"
    );
    let (_, snaps) = t2
        .get(&format!(
            "/api/storage/volumes/{uuid}/snapshots?name=persisted"
        ))
        .await;
    assert_eq!(snaps["num_records"], 1);
    t2.volume_uuid("vol_kept").await;
}

#[test]
fn binary_serves_both_apis_and_persists_across_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let tls = dir.path().join("tls");
    let run = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pve-ontap-sim"))
            .args([
                "--ontap-addr",
                "127.0.0.1:0",
                "--pve-addr",
                "127.0.0.1:0",
                "--tls-dir",
            ])
            .arg(&tls)
            .arg("--state")
            .arg(&state)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("pve-ontap-sim ready"), "{line}");
        let ontap = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ontap="))
            .unwrap()
            .to_string();
        (child, ontap)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();

    let (mut child, ontap) = run();
    let ca = std::fs::read_to_string(tls.join("ca.crt")).unwrap();
    assert!(tls.join("server.crt").exists() && tls.join("server.key").exists());
    let http = https_client(&ca);
    rt.block_on(async {
        let resp = http
            .post(format!("{ontap}/api/storage/volumes?return_timeout=30"))
            .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
            .json(&json!({"name": "from_binary", "svm": {"name": "svm1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    });
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    let (mut child, ontap) = run();
    rt.block_on(async {
        let resp = http
            .get(format!("{ontap}/api/storage/volumes?name=from_binary"))
            .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["num_records"], 1);
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn jobs_in_flight_finish_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut scenario = pve_ontap_sim::Scenario::default_scenario();
    scenario.timings.ontap.job_running_ms = 1500;
    let opts = || {
        let mut o = SimOptions::ephemeral(dir.path().join("tls"));
        o.state_path = Some(state.clone());
        o.scenario = pve_ontap_sim::ScenarioSource::Value(Box::new(scenario.clone()));
        o
    };
    let t = start_with(opts()).await;
    let (status, body) = t
        .post(
            "/api/storage/volumes",
            json!({"name": "slow_vol", "svm": {"name": "svm1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job = body["job"]["uuid"].as_str().unwrap().to_string();
    t.running.shutdown().await;

    // The first instance stopped while the job was still running (1.5 s); the restarted one finishes it.
    let t2 = start_with(opts()).await;
    let j = t2.wait_job(&job).await;
    assert_eq!(j["state"], "success");
    t2.volume_uuid("slow_vol").await;
}
