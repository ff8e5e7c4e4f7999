//! The Proxmox VE API client: one keep-alive client per endpoint, endpoints tried in order,
//! API-token or ticket authentication, errors classified once in [`ProxmoxError::from_response`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::api::{ConfigUpdate, PowerAction};
use super::error::{ProxmoxError, Result};
use super::types::*;
use crate::request_observer::{self, Backend, Outcome, RequestObserver};

/// How the client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// API token: `user@realm!tokenid` and its secret.
    Token { token_id: String, secret: String },
    /// Username (with `@realm`) and password, exchanged for a ticket.
    Password { username: String, password: String },
}

impl Credentials {
    /// Parses the Secret's `token` value `USER@REALM!ID=SECRET`.
    pub fn from_token(token: &str) -> Result<Credentials> {
        let token = token.trim();
        let (id, secret) = token.split_once('=').ok_or_else(|| {
            ProxmoxError::Config("token must look like USER@REALM!ID=SECRET".into())
        })?;
        let valid_id = id.split_once('@').is_some_and(|(user, rest)| {
            !user.is_empty()
                && rest
                    .split_once('!')
                    .is_some_and(|(realm, tid)| !realm.is_empty() && !tid.is_empty())
        });
        if !valid_id || secret.is_empty() {
            return Err(ProxmoxError::Config(
                "token must look like USER@REALM!ID=SECRET".into(),
            ));
        }
        Ok(Credentials::Token {
            token_id: id.to_string(),
            secret: secret.to_string(),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token { token_id, .. } => f
                .debug_struct("Token")
                .field("token_id", token_id)
                .field("secret", &"<redacted>")
                .finish(),
            Credentials::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Everything needed to build a [`ProxmoxClient`].
#[derive(Clone)]
pub struct ProxmoxConfig {
    /// `https://host:port` URLs, tried in order.
    pub endpoints: Vec<String>,
    pub credentials: Credentials,
    /// PEM CA bundle; when set, only these CAs are trusted.
    pub ca_bundle_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    /// Whole-request timeout. Proxmox's own proxy gives up after 30 s, so longer values gain nothing.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Told about every HTTP request (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for ProxmoxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxmoxConfig")
            .field("endpoints", &self.endpoints)
            .field("credentials", &self.credentials)
            .field(
                "ca_bundle_pem",
                &self
                    .ca_bundle_pem
                    .as_ref()
                    .map(|p| format!("{} bytes", p.len())),
            )
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .finish_non_exhaustive()
    }
}

impl ProxmoxConfig {
    pub fn new(endpoints: Vec<String>, credentials: Credentials) -> Self {
        Self {
            endpoints,
            credentials,
            ca_bundle_pem: None,
            insecure_skip_tls_verify: false,
            request_timeout: Duration::from_secs(35),
            connect_timeout: Duration::from_secs(5),
            observer: None,
        }
    }
}

struct Endpoint {
    /// `https://host:port/api2/json/`
    base: Url,
    http: reqwest::Client,
}

#[derive(Clone)]
struct Ticket {
    ticket: String,
    csrf: String,
    obtained: Instant,
}

/// Tickets live 2 h; renewing after 1 h (as proxmoxer does) keeps a margin for clock skew.
const TICKET_RENEW_AFTER: Duration = Duration::from_secs(3600);

pub struct ProxmoxClient {
    endpoints: Vec<Endpoint>,
    credentials: Credentials,
    /// Index of the endpoint that answered last; requests start there.
    active: AtomicUsize,
    ticket: Mutex<Option<Ticket>>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for ProxmoxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoints: Vec<&str> = self.endpoints.iter().map(|e| e.base.as_str()).collect();
        f.debug_struct("ProxmoxClient")
            .field("endpoints", &endpoints)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl ProxmoxClient {
    pub fn new(config: ProxmoxConfig) -> Result<Self> {
        if config.endpoints.is_empty() {
            return Err(ProxmoxError::Config("no endpoints".into()));
        }
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for raw in &config.endpoints {
            let mut base = Url::parse(raw)
                .map_err(|e| ProxmoxError::Config(format!("endpoint {raw}: {e}")))?;
            if base.scheme() != "https" {
                return Err(ProxmoxError::Config(format!(
                    "endpoint {raw}: only https is supported"
                )));
            }
            base.set_query(None);
            base.set_fragment(None);
            let path = base.path().trim_end_matches('/').to_string();
            base.set_path(&format!("{path}/api2/json/"));
            let http = crate::http::build_client(
                config.ca_bundle_pem.as_deref(),
                config.insecure_skip_tls_verify,
                config.request_timeout,
                config.connect_timeout,
            )
            .map_err(ProxmoxError::Config)?;
            endpoints.push(Endpoint { base, http });
        }
        Ok(Self {
            endpoints,
            credentials: config.credentials,
            active: AtomicUsize::new(0),
            ticket: Mutex::new(None),
            observer: config.observer,
        })
    }

    /// The endpoint that answered last.
    pub fn active_endpoint(&self) -> String {
        let base = &self.endpoints[self.active.load(Ordering::Relaxed) % self.endpoints.len()].base;
        base.origin().ascii_serialization()
    }

    fn url(base: &Url, segments: &[&str]) -> Url {
        let mut url = base.clone();
        {
            let mut path = url.path_segments_mut().expect("https URL has a path");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// A QEMU guest-agent command (`POST /nodes/{node}/qemu/{vmid}/agent/{command}`) and its answer.
    async fn agent_command(&self, node: &str, vmid: u32, command: &str) -> Result<Value> {
        self.call(
            Method::POST,
            &["nodes", node, "qemu", &vmid_s(vmid), "agent", command],
            &[],
        )
        .await
    }

    /// Sends one API call, failing over to the next endpoint on connection errors.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        params: &[(String, String)],
    ) -> Result<Value> {
        let n = self.endpoints.len();
        let start = self.active.load(Ordering::Relaxed) % n;
        let mut last_err = None;
        for i in 0..n {
            let idx = (start + i) % n;
            match self.call_endpoint(idx, &method, segments, params).await {
                Ok(v) => {
                    self.active.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(Attempt::Failover(e)) => {
                    tracing::debug!(endpoint = %self.endpoints[idx].base, error = %e, "Proxmox endpoint unreachable");
                    last_err = Some(e);
                }
                Err(Attempt::Final(e)) => {
                    self.active.store(idx, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| ProxmoxError::Transient {
            message: "no endpoint reachable".into(),
        }))
    }

    async fn call_endpoint(
        &self,
        idx: usize,
        method: &Method,
        segments: &[&str],
        params: &[(String, String)],
    ) -> std::result::Result<Value, Attempt> {
        let mut relogged = false;
        loop {
            let ticket = match &self.credentials {
                Credentials::Token { .. } => None,
                Credentials::Password { .. } => Some(self.ticket(idx, false).await?),
            };
            let resp = self
                .send(idx, method, segments, params, ticket.as_ref())
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && ticket.is_some() && !relogged {
                // The ticket may have expired or the signing key rotated: log in once more.
                relogged = true;
                self.ticket(idx, true).await?;
                continue;
            }
            return decode(resp).await.map_err(Attempt::Final);
        }
    }

    async fn send(
        &self,
        idx: usize,
        method: &Method,
        segments: &[&str],
        params: &[(String, String)],
        ticket: Option<&Ticket>,
    ) -> std::result::Result<reqwest::Response, Attempt> {
        let ep = &self.endpoints[idx];
        let url = Self::url(&ep.base, segments);
        let mut req = ep.http.request(method.clone(), url.clone());
        req = if *method == Method::GET || *method == Method::DELETE {
            req.query(params)
        } else {
            req.form(params)
        };
        match (&self.credentials, ticket) {
            (Credentials::Token { token_id, secret }, _) => {
                let mut value = reqwest::header::HeaderValue::try_from(format!(
                    "PVEAPIToken={token_id}={secret}"
                ))
                .map_err(|_| {
                    Attempt::Final(ProxmoxError::Config(
                        "token contains invalid characters".into(),
                    ))
                })?;
                value.set_sensitive(true);
                req = req.header(reqwest::header::AUTHORIZATION, value);
            }
            (Credentials::Password { .. }, Some(t)) => {
                let mut cookie = reqwest::header::HeaderValue::try_from(format!(
                    "PVEAuthCookie={}",
                    percent_encoding::utf8_percent_encode(
                        &t.ticket,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ))
                .map_err(|_| {
                    Attempt::Final(ProxmoxError::Protocol(
                        "ticket contains invalid characters".into(),
                    ))
                })?;
                cookie.set_sensitive(true);
                req = req.header(reqwest::header::COOKIE, cookie);
                if *method != Method::GET {
                    let mut csrf = reqwest::header::HeaderValue::try_from(t.csrf.as_str())
                        .map_err(|_| {
                            Attempt::Final(ProxmoxError::Protocol("invalid CSRF token".into()))
                        })?;
                    csrf.set_sensitive(true);
                    req = req.header("CSRFPreventionToken", csrf);
                }
            }
            (Credentials::Password { .. }, None) => {}
        }
        self.send_observed(req, method, &url).await
    }

    /// Sends one HTTP request and reports it to the observer.
    async fn send_observed(
        &self,
        req: reqwest::RequestBuilder,
        method: &Method,
        url: &Url,
    ) -> std::result::Result<reqwest::Response, Attempt> {
        let endpoint = request_observer::proxmox_endpoint(url.path());
        let started = Instant::now();
        let sent = req.send().await;
        let outcome = match &sent {
            Ok(resp) => Outcome::from_status(resp.status().as_u16()),
            Err(_) => Outcome::TransportError,
        };
        request_observer::report(
            self.observer.as_deref(),
            Backend::Proxmox,
            method.as_str(),
            &endpoint,
            outcome,
            started.elapsed(),
        );
        sent.map_err(|e| transport_attempt(e, method))
    }

    /// Returns a valid ticket, logging in (against endpoint `idx`) when there is none, it is old, or `force`.
    async fn ticket(&self, idx: usize, force: bool) -> std::result::Result<Ticket, Attempt> {
        let Credentials::Password { username, password } = &self.credentials else {
            return Err(Attempt::Final(ProxmoxError::Config(
                "ticket requested for token auth".into(),
            )));
        };
        let mut guard = self.ticket.lock().await;
        if let Some(t) = guard.as_ref() {
            if !force && t.obtained.elapsed() < TICKET_RENEW_AFTER {
                return Ok(t.clone());
            }
        }
        let ep = &self.endpoints[idx];
        let url = Self::url(&ep.base, &["access", "ticket"]);
        let req = ep.http.post(url.clone()).form(&[
            ("username", username.as_str()),
            ("password", password.as_str()),
        ]);
        let resp = self.send_observed(req, &Method::POST, &url).await?;
        let data = decode(resp).await.map_err(Attempt::Final)?;
        let ticket = data.get("ticket").and_then(Value::as_str);
        let csrf = data.get("CSRFPreventionToken").and_then(Value::as_str);
        let (Some(ticket), Some(csrf)) = (ticket, csrf) else {
            return Err(Attempt::Final(ProxmoxError::Protocol(
                "login response lacks ticket or CSRFPreventionToken".into(),
            )));
        };
        let t = Ticket {
            ticket: ticket.to_string(),
            csrf: csrf.to_string(),
            obtained: Instant::now(),
        };
        *guard = Some(t.clone());
        Ok(t)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(String, String)],
    ) -> Result<T> {
        let v = self.call(Method::GET, segments, params).await?;
        from_data(v)
    }

    async fn upid(
        &self,
        method: Method,
        segments: &[&str],
        params: &[(String, String)],
    ) -> Result<Upid> {
        let v = self.call(method, segments, params).await?;
        let s = v
            .as_str()
            .ok_or_else(|| ProxmoxError::Protocol(format!("expected a UPID, got {v}")))?;
        Upid::parse(s).ok_or_else(|| ProxmoxError::Protocol(format!("unparseable UPID {s:?}")))
    }
}

enum Attempt {
    /// The endpoint could not be reached; another endpoint may work.
    Failover(ProxmoxError),
    /// An answer (or a failure after the request may have been processed): do not repeat it elsewhere.
    Final(ProxmoxError),
}

fn transport_attempt(e: reqwest::Error, method: &Method) -> Attempt {
    let err = ProxmoxError::from_transport(&e);
    // A connection that never opened carried no request; a read timeout on a write might have been processed.
    if e.is_connect() || (e.is_timeout() && *method == Method::GET) {
        Attempt::Failover(err)
    } else {
        Attempt::Final(err)
    }
}

impl From<ProxmoxError> for Attempt {
    fn from(e: ProxmoxError) -> Self {
        Attempt::Final(e)
    }
}

fn from_data<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| ProxmoxError::Protocol(format!("decoding response: {e}")))
}

/// Turns a response into its `data`, or a classified error.
async fn decode(resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    // Proxmox puts the error text into the HTTP reason phrase; hyper keeps non-canonical phrases as an extension.
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ProxmoxError::from_transport(&e))?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if status.is_success() {
        let body =
            body.ok_or_else(|| ProxmoxError::Protocol(format!("HTTP {status}: body is not JSON")))?;
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let body_message = body
        .as_ref()
        .and_then(|b| b.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let errors: BTreeMap<String, String> = body
        .as_ref()
        .and_then(|b| b.get("errors"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let message = body_message
        .or(reason)
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_default();
    Err(ProxmoxError::from_response(
        status.as_u16(),
        &message,
        errors,
    ))
}

fn vmid_s(vmid: u32) -> String {
    vmid.to_string()
}

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

impl ProxmoxClient {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Version> {
        self.get(&["version"], &[]).await
    }

    /// `GET /nodes`.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        self.get(&["nodes"], &[]).await
    }

    /// `GET /cluster/resources[?type=]`.
    pub async fn cluster_resources(
        &self,
        kind: Option<ResourceType>,
    ) -> Result<Vec<ClusterResource>> {
        let params: Vec<(String, String)> =
            kind.map(|k| p("type", k.as_str())).into_iter().collect();
        self.get(&["cluster", "resources"], &params).await
    }

    /// `GET /storage`.
    pub async fn storages(&self) -> Result<Vec<StorageConfig>> {
        self.get(&["storage"], &[]).await
    }

    /// `GET /storage/{storage}`; a missing storage is [`ProxmoxError::NotFound`].
    pub async fn storage(&self, storage: &str) -> Result<StorageConfig> {
        self.get(&["storage", storage], &[]).await
    }

    /// `POST /storage` with `type=nfs` (synchronous; Proxmox mounts the export right away).
    pub async fn create_nfs_storage(&self, spec: &NfsStorageSpec) -> Result<()> {
        let mut params = vec![
            p("storage", &spec.storage),
            p("type", "nfs"),
            p("server", &spec.server),
            p("export", &spec.export),
        ];
        if !spec.content.is_empty() {
            params.push(p("content", spec.content.join(",")));
        }
        if !spec.nodes.is_empty() {
            params.push(p("nodes", spec.nodes.join(",")));
        }
        if let Some(o) = &spec.options {
            params.push(p("options", o));
        }
        if let Some(path) = &spec.path {
            params.push(p("path", path));
        }
        self.call(Method::POST, &["storage"], &params)
            .await
            .map(|_| ())
    }

    /// `DELETE /storage/{storage}` (Proxmox does not unmount it).
    pub async fn delete_storage(&self, storage: &str) -> Result<()> {
        self.call(Method::DELETE, &["storage", storage], &[])
            .await
            .map(|_| ())
    }

    /// `GET /nodes/{node}/storage/{storage}/content?content=images[&vmid=]`.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        vmid: Option<u32>,
    ) -> Result<Vec<StorageContentItem>> {
        let mut params = vec![p("content", "images")];
        if let Some(v) = vmid {
            params.push(p("vmid", vmid_s(v)));
        }
        self.get(&["nodes", node, "storage", storage, "content"], &params)
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config`; pending values merged in unless `current`.
    pub async fn vm_config(&self, node: &str, vmid: u32, current: bool) -> Result<VmConfig> {
        let params: Vec<(String, String)> = if current {
            vec![p("current", "1")]
        } else {
            Vec::new()
        };
        self.get(&["nodes", node, "qemu", &vmid_s(vmid), "config"], &params)
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/pending`.
    pub async fn vm_pending(&self, node: &str, vmid: u32) -> Result<Vec<PendingEntry>> {
        self.get(&["nodes", node, "qemu", &vmid_s(vmid), "pending"], &[])
            .await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/config` (synchronous).
    pub async fn update_vm_config(
        &self,
        node: &str,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> Result<()> {
        let params = update.params()?;
        self.call(
            Method::PUT,
            &["nodes", node, "qemu", &vmid_s(vmid), "config"],
            &params,
        )
        .await
        .map(|_| ())
    }

    /// `POST /nodes/{node}/qemu/{vmid}/config` (task `qmconfig`).
    pub async fn update_vm_config_async(
        &self,
        node: &str,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> Result<Upid> {
        let params = update.params()?;
        self.upid(
            Method::POST,
            &["nodes", node, "qemu", &vmid_s(vmid), "config"],
            &params,
        )
        .await
    }

    /// `POST /nodes/{node}/qemu` with `vmid` and config keys (task `qmcreate`).
    pub async fn create_vm(
        &self,
        node: &str,
        vmid: u32,
        config: &[(String, String)],
    ) -> Result<Upid> {
        let mut params = vec![p("vmid", vmid_s(vmid))];
        params.extend(config.iter().cloned());
        self.upid(Method::POST, &["nodes", node, "qemu"], &params)
            .await
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}` (task `qmdestroy`; deletes every owned volume the config references).
    pub async fn delete_vm(
        &self,
        node: &str,
        vmid: u32,
        purge: bool,
        destroy_unreferenced_disks: bool,
    ) -> Result<Upid> {
        let mut params = Vec::new();
        if purge {
            params.push(p("purge", "1"));
        }
        if destroy_unreferenced_disks {
            params.push(p("destroy-unreferenced-disks", "1"));
        }
        self.upid(
            Method::DELETE,
            &["nodes", node, "qemu", &vmid_s(vmid)],
            &params,
        )
        .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/status/current`.
    pub async fn vm_status(&self, node: &str, vmid: u32) -> Result<VmStatus> {
        self.get(
            &["nodes", node, "qemu", &vmid_s(vmid), "status", "current"],
            &[],
        )
        .await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/{start|stop|shutdown|suspend|resume}`.
    pub async fn vm_power(&self, node: &str, vmid: u32, action: PowerAction) -> Result<Upid> {
        let (op, params) = action.request();
        self.upid(
            Method::POST,
            &["nodes", node, "qemu", &vmid_s(vmid), "status", op],
            &params,
        )
        .await
    }

    /// `POST .../agent/fsfreeze-freeze`; returns the number of file systems frozen.
    pub async fn agent_fsfreeze_freeze(&self, node: &str, vmid: u32) -> Result<u64> {
        let v = self.agent_command(node, vmid, "fsfreeze-freeze").await?;
        Ok(agent_count(&v))
    }

    /// `POST .../agent/fsfreeze-thaw`; returns the number of file systems thawed.
    pub async fn agent_fsfreeze_thaw(&self, node: &str, vmid: u32) -> Result<u64> {
        let v = self.agent_command(node, vmid, "fsfreeze-thaw").await?;
        Ok(agent_count(&v))
    }

    /// `POST .../agent/fsfreeze-status`.
    pub async fn agent_fsfreeze_status(&self, node: &str, vmid: u32) -> Result<FreezeState> {
        let v = self.agent_command(node, vmid, "fsfreeze-status").await?;
        match v.get("result").and_then(Value::as_str) {
            Some("frozen") => Ok(FreezeState::Frozen),
            Some("thawed") => Ok(FreezeState::Thawed),
            _ => Err(ProxmoxError::Protocol(format!(
                "unexpected fsfreeze-status result {v}"
            ))),
        }
    }

    /// `GET /nodes/{upid.node}/tasks/{upid}/status`.
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        self.get(&["nodes", &upid.node, "tasks", &upid.raw, "status"], &[])
            .await
    }

    /// `PUT /storage/{storage}` (synchronous): set `set`, remove `delete`. Proxmox refuses the fixed options
    /// (`type`, `server`, `export`, `path`); `content`, `nodes`, `options` may change.
    pub async fn update_storage(
        &self,
        storage: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        let mut params: Vec<(String, String)> = set.to_vec();
        if !delete.is_empty() {
            params.push(p("delete", delete.join(",")));
        }
        if params.is_empty() {
            return Ok(());
        }
        self.call(Method::PUT, &["storage", storage], &params)
            .await
            .map(|_| ())
    }

    /// `GET /nodes/{node}/tasks?vmid=&source=active`: the VM's tasks still running on `node`, oldest first.
    /// Lists the caller's own tasks (a token sees its own), or all of them with Sys.Audit on `/nodes/{node}`.
    pub async fn vm_active_tasks(&self, node: &str, vmid: u32) -> Result<Vec<TaskListEntry>> {
        // `limit` defaults to 50; a VM never has that many workers queued, but a cut list must not hide one.
        let params = [
            p("vmid", vmid_s(vmid)),
            p("source", "active"),
            p("limit", "1000"),
        ];
        let tasks: Vec<TaskListEntry> = self.get(&["nodes", node, "tasks"], &params).await?;
        Ok(tasks
            .into_iter()
            .filter(TaskListEntry::is_running)
            .collect())
    }
}

fn agent_count(v: &Value) -> u64 {
    v.get("result").and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_parsing() {
        let c = Credentials::from_token("ctl@pve!k8s=0b8f-11aa").unwrap();
        assert_eq!(
            c,
            Credentials::Token {
                token_id: "ctl@pve!k8s".into(),
                secret: "0b8f-11aa".into()
            }
        );
        for bad in [
            "ctl@pve!k8s",
            "ctl@pve=x",
            "@pve!k=x",
            "ctl@!k=x",
            "ctl@pve!=x",
            "ctl@pve!k=",
        ] {
            assert!(Credentials::from_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::from_token("ctl@pve!k8s=supersecret").unwrap();
        let client =
            ProxmoxClient::new(ProxmoxConfig::new(vec!["https://127.0.0.1:8006".into()], c))
                .unwrap();
        let s = format!("{client:?}");
        assert!(!s.contains("supersecret"), "{s}");
        assert!(s.contains("ctl@pve!k8s"));
        let pw = Credentials::Password {
            username: "root@pam".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{pw:?}").contains("hunter2"));
    }

    #[test]
    fn urls_encode_volume_ids_and_keep_upids() {
        let base = Url::parse("https://127.0.0.1:8006/api2/json/").unwrap();
        let u = ProxmoxClient::url(
            &base,
            &[
                "nodes",
                "pve1",
                "storage",
                "nfs1",
                "content",
                "nfs1:100/vm-100-disk-0.raw",
            ],
        );
        assert_eq!(
            u.as_str(),
            "https://127.0.0.1:8006/api2/json/nodes/pve1/storage/nfs1/content/nfs1:100%2Fvm-100-disk-0.raw"
        );
        let t = ProxmoxClient::url(
            &base,
            &[
                "nodes",
                "pve1",
                "tasks",
                "UPID:pve1:1:2:3:qmstart:100:a@pam!t:",
                "status",
            ],
        );
        assert!(
            t.as_str()
                .contains("/tasks/UPID:pve1:1:2:3:qmstart:100:a@pam!t:/status"),
            "{t}"
        );
    }

    #[test]
    fn rejects_plain_http_and_empty_endpoint_lists() {
        let c = Credentials::from_token("a@pve!t=s").unwrap();
        assert!(matches!(
            ProxmoxClient::new(ProxmoxConfig::new(
                vec!["http://127.0.0.1:8006".into()],
                c.clone()
            )),
            Err(ProxmoxError::Config(_))
        ));
        assert!(matches!(
            ProxmoxClient::new(ProxmoxConfig::new(vec![], c)),
            Err(ProxmoxError::Config(_))
        ));
    }

    #[test]
    fn bad_ca_bundle_is_a_config_error() {
        let c = Credentials::from_token("a@pve!t=s").unwrap();
        let mut cfg = ProxmoxConfig::new(vec!["https://127.0.0.1:8006".into()], c);
        cfg.ca_bundle_pem = Some(b"not a pem".to_vec());
        assert!(matches!(
            ProxmoxClient::new(cfg),
            Err(ProxmoxError::Config(_))
        ));
    }
}
