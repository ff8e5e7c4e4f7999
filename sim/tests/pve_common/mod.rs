//! Test harness for the Proxmox VE API of the simulator: an in-process simulator on free ports and a plain
//! reqwest client speaking HTTPS with the simulator's CA, authenticated like a real PVE client.
#![allow(dead_code)]

use std::time::Duration;

use pve_ontap_sim::{start, RunningSim, Scenario, ScenarioSource, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const TOKEN: &str = "PVEAPIToken=root@pam!ci=d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90";

pub struct PveSim {
    pub running: RunningSim,
    pub client: reqwest::Client,
    pub base: String,
    _dir: tempfile::TempDir,
}

/// A response as a PVE client sees it: status, reason phrase of the status line, JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub reason: String,
    pub body: Value,
    pub cookie: Option<String>,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "expected success, got {self:?}"
        );
        &self.body["data"]
    }

    #[track_caller]
    pub fn fails(&self, status: u16, message_part: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert!(
            self.reason.contains(message_part),
            "reason '{}' lacks '{message_part}' ({self:?})",
            self.reason
        );
        assert!(self.body["data"].is_null(), "{self:?}");
    }

    /// The text field `key` of every entry of a successful list answer.
    #[track_caller]
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.ok()
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e[key].as_str().expect("a text field").to_string())
            .collect()
    }

    pub fn upid(&self) -> String {
        self.ok().as_str().expect("a UPID string").to_string()
    }
}

/// Authentication a request carries.
#[derive(Clone)]
pub enum Auth {
    None,
    Token(String),
    Ticket {
        ticket: String,
        csrf: Option<String>,
    },
}

impl PveSim {
    pub async fn start() -> PveSim {
        Self::start_from(ScenarioSource::Default).await
    }

    pub async fn start_with(scenario: Scenario) -> PveSim {
        Self::start_from(ScenarioSource::Value(Box::new(scenario))).await
    }

    /// A simulator persisting its world to `state` (loaded from there when the file exists).
    pub async fn start_persistent(state: &std::path::Path) -> PveSim {
        Self::start_opts(ScenarioSource::Default, Some(state.to_path_buf())).await
    }

    async fn start_from(source: ScenarioSource) -> PveSim {
        Self::start_opts(source, None).await
    }

    async fn start_opts(source: ScenarioSource, state: Option<std::path::PathBuf>) -> PveSim {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = SimOptions::ephemeral(dir.path().join("tls"));
        opts.scenario = source;
        opts.state_path = state;
        let running = start(opts).await.expect("simulator starts");
        let ca = reqwest::Certificate::from_pem(running.ca_pem().as_bytes()).expect("CA PEM");
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .http1_only()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let base = format!("https://localhost:{}/api2/json", running.pve_addr().port());
        PveSim {
            running,
            client,
            base,
            _dir: dir,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        form: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        req = match auth {
            Auth::None => req,
            Auth::Token(t) => req.header("Authorization", t),
            Auth::Ticket { ticket, csrf } => {
                let encoded =
                    url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect::<String>();
                let req = req.header("Cookie", format!("PVEAuthCookie={encoded}"));
                match csrf {
                    Some(c) => req.header("CSRFPreventionToken", c),
                    None => req,
                }
            }
        };
        if !form.is_empty() {
            req = if method == Method::GET || method == Method::DELETE {
                req.query(form)
            } else {
                req.form(form)
            };
        }
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            reason,
            body,
            cookie,
        }
    }

    pub fn token() -> Auth {
        Auth::Token(TOKEN.to_string())
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &Self::token(), &[]).await
    }

    pub async fn get_q(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, path, &Self::token(), query).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.call(Method::POST, path, &Self::token(), form).await
    }

    pub async fn put(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.call(Method::PUT, path, &Self::token(), form).await
    }

    pub async fn delete(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::DELETE, path, &Self::token(), query).await
    }

    /// Logs in with a password and returns (ticket, CSRF token).
    pub async fn login(&self, user: &str, password: &str) -> (String, String) {
        let a = self
            .call(
                Method::POST,
                "/access/ticket",
                &Auth::None,
                &[("username", user), ("password", password)],
            )
            .await;
        let d = a.ok();
        (
            d["ticket"].as_str().unwrap().to_string(),
            d["CSRFPreventionToken"].as_str().unwrap().to_string(),
        )
    }

    /// Polls a task until it stopped; returns its final status object.
    pub async fn wait_task(&self, upid: &str) -> Value {
        let node = upid.split(':').nth(1).expect("node in UPID").to_string();
        let path = format!(
            "/nodes/{node}/tasks/{}/status",
            url::form_urlencoded::byte_serialize(upid.as_bytes()).collect::<String>()
        );
        for _ in 0..500 {
            let a = self.get(&path).await;
            let d = a.ok().clone();
            if d["status"] == "stopped" {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {upid} did not finish");
    }

    /// Runs an async call and waits for its task; returns the exit status.
    pub async fn run_task(&self, path: &str, form: &[(&str, &str)]) -> String {
        let upid = self.post(path, form).await.upid();
        self.wait_task(&upid).await["exitstatus"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs an async call and asserts that its task ended `OK`.
    pub async fn run_ok(&self, path: &str, form: &[(&str, &str)]) {
        let exit = self.run_task(path, form).await;
        assert_eq!(exit, "OK", "task of POST {path} {form:?}");
    }

    /// `GET .../status/current` of a VM.
    pub async fn vm_status(&self, node: &str, vmid: u32) -> Value {
        self.get(&format!("/nodes/{node}/qemu/{vmid}/status/current"))
            .await
            .ok()
            .clone()
    }

    /// Asserts that the simulator's Proxmox-side event log (`/_sim/inventory`) holds every one of `kinds`.
    pub async fn assert_pve_events(&self, kinds: &[&str]) {
        let logged: Vec<String> = self.inventory().await["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["api"] == "pve")
            .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        for k in kinds {
            assert!(logged.iter().any(|l| l == k), "no {k} event in {logged:?}");
        }
    }

    /// `DELETE` that starts a task (destroy); waits and returns the exit status.
    pub async fn run_task_delete(&self, path: &str) -> String {
        let upid = self.delete(path, &[]).await.upid();
        self.wait_task(&upid).await["exitstatus"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn hook(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("https://localhost:{}{path}", self.running.pve_addr().port());
        let mut req = self.client.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("hook");
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn inventory(&self) -> Value {
        self.hook(Method::GET, "/_sim/inventory", None).await
    }

    pub async fn config(&self, node: &str, vmid: u32) -> Value {
        self.get(&format!("/nodes/{node}/qemu/{vmid}/config"))
            .await
            .ok()
            .clone()
    }

    /// File names of `images/<vmid>/` as the PVE storage content shows them.
    pub async fn images(&self, storage: &str, vmid: u32) -> Vec<String> {
        let a = self
            .get_q(
                &format!("/nodes/pve1/storage/{storage}/content"),
                &[("vmid", &vmid.to_string())],
            )
            .await;
        a.ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["volid"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Form-encodes `s` for a path segment (UPIDs and volume ids hold `:` and `/`).
pub fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
