//! Shared helpers for the simulator's integration tests: start a simulator on free ports and talk to it over
//! real HTTPS, trusting only the CA it generated.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use pve_ontap_sim::{RunningSim, Scenario, ScenarioSource, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const ONTAP_USER: &str = "admin";
pub const ONTAP_PASSWORD: &str = "netapp123";

pub struct TestSim {
    pub running: RunningSim,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// An HTTPS client that trusts the simulator's CA (and nothing else).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn start_default() -> TestSim {
    start_with(SimOptions::ephemeral(PathBuf::new())).await
}

pub async fn start_scenario(scenario: Scenario) -> TestSim {
    let mut opts = SimOptions::ephemeral(PathBuf::new());
    opts.scenario = ScenarioSource::Value(Box::new(scenario));
    start_with(opts).await
}

/// Starts with `opts`, placing TLS material in a fresh temporary directory when `opts.tls_dir` is empty.
pub async fn start_with(mut opts: SimOptions) -> TestSim {
    let dir = tempfile::tempdir().expect("tempdir");
    if opts.tls_dir.as_os_str().is_empty() {
        opts.tls_dir = dir.path().join("tls");
    }
    let running = pve_ontap_sim::start(opts).await.expect("simulator starts");
    let http = https_client(running.ca_pem());
    TestSim { running, dir, http }
}

impl TestSim {
    pub fn ontap(&self, path: &str) -> String {
        format!("{}{}", self.running.ontap_url(), path)
    }

    /// An authenticated ONTAP request; returns status and JSON body (Null when empty).
    pub async fn ontap_req(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.ontap(path))
            .basic_auth(ONTAP_USER, Some(ONTAP_PASSWORD));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.ontap_req(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.ontap_req(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.ontap_req(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.ontap_req(Method::DELETE, path, None).await
    }

    /// Polls a job until it is terminal; returns the job record.
    pub async fn wait_job(&self, job_uuid: &str) -> Value {
        // Generous bound: jobs take ~0.1-0.3 s with the default timings, far longer only on an overloaded machine.
        for _ in 0..1200 {
            let (status, job) = self
                .get(&format!("/api/cluster/jobs/{job_uuid}?fields=**"))
                .await;
            assert_eq!(status, StatusCode::OK, "job GET: {job}");
            if matches!(job["state"].as_str(), Some("success" | "failure")) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("job {job_uuid} did not finish");
    }

    /// Asserts an async answer (202 + job link), waits for the job and returns it.
    pub async fn job_of(&self, (status, body): (StatusCode, Value)) -> Value {
        assert_eq!(status, StatusCode::ACCEPTED, "expected 202 + job: {body}");
        let uuid = body["job"]["uuid"]
            .as_str()
            .unwrap_or_else(|| panic!("no job in {body}"))
            .to_string();
        assert_eq!(
            body["job"]["_links"]["self"]["href"],
            format!("/api/cluster/jobs/{uuid}")
        );
        self.wait_job(&uuid).await
    }

    /// Runs an async request and asserts the job succeeded.
    pub async fn ok_job(&self, answer: (StatusCode, Value)) -> Value {
        let job = self.job_of(answer).await;
        assert_eq!(job["state"], "success", "job failed: {job}");
        job
    }

    /// UUID of a volume by name.
    pub async fn volume_uuid(&self, name: &str) -> String {
        let (status, body) = self.get(&format!("/api/storage/volumes?name={name}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["num_records"], 1, "volume {name}: {body}");
        body["records"][0]["uuid"].as_str().unwrap().to_string()
    }

    pub async fn inventory(&self) -> Value {
        let resp = self
            .http
            .get(self.ontap("/_sim/inventory"))
            .send()
            .await
            .expect("inventory");
        resp.json().await.expect("inventory json")
    }
}

/// Percent-encodes a relative path for the files API (`/` → `%2F`, `.` → `%2E`).
pub fn enc(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c.to_string(),
            c => format!("%{:02X}", c as u32),
        })
        .collect()
}
