//! The ONTAP REST client: one keep-alive client, basic auth, `return_timeout` so short jobs
//! finish in one call, bounded job polling, `_links.next` pagination, errors classified in [`OntapError`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use url::Url;

use super::error::{OntapError, Result};
use super::types::*;
use crate::request_observer::{self, Backend, Outcome, RequestObserver};

/// Everything needed to build an [`OntapClient`].
#[derive(Clone)]
pub struct OntapConfig {
    /// `https://host[:port]`.
    pub endpoint: String,
    pub username: String,
    pub password: String,
    /// PEM CA bundle; when set, only these CAs are trusted.
    pub ca_bundle_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    pub connect_timeout: Duration,
    /// Whole-request timeout; always extended to outlast `return_timeout`.
    pub request_timeout: Duration,
    /// Requests in flight at once against this endpoint (Trident uses 20 per management LIF).
    pub max_concurrent_requests: usize,
    /// `return_timeout` sent with POST/PATCH/DELETE: ONTAP waits this long for the job before answering 202.
    pub return_timeout: Duration,
    /// How long after the answer the client keeps polling a job before reporting it in progress.
    pub job_wait: Duration,
    /// Told about every HTTP request (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl OntapConfig {
    pub fn new(
        endpoint: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            username: username.into(),
            password: password.into(),
            ca_bundle_pem: None,
            insecure_skip_tls_verify: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 16,
            return_timeout: Duration::from_secs(5),
            job_wait: Duration::from_secs(10),
            observer: None,
        }
    }
}

impl fmt::Debug for OntapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OntapConfig")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
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

pub struct OntapClient {
    /// `https://host[:port]` without path.
    origin: Url,
    http: reqwest::Client,
    username: String,
    password: String,
    return_timeout_secs: u64,
    job_wait: Duration,
    /// Bounds concurrent requests so many reconcilers cannot overload one management LIF.
    limiter: tokio::sync::Semaphore,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for OntapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OntapClient")
            .field("endpoint", &self.origin.as_str())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Files-API path segment encoding: `/` → `%2F`, `.` → `%2E`, everything but alphanumerics, `-` and `_` escaped.
const FILE_PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// Query values: escape what would break the query string; keep ONTAP's operators (`*`, `|`, `!`) readable.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b'|')
    .remove(b'!')
    .remove(b',')
    .remove(b'/');

fn encode_file_path(path: &str) -> String {
    utf8_percent_encode(path.trim_matches('/'), FILE_PATH).to_string()
}

fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, FILE_PATH).to_string()
}

/// The job link of an async response, if any.
fn job_uuid_of(body: &Value) -> Option<String> {
    body.get("job")?.get("uuid")?.as_str().map(str::to_string)
}

impl OntapClient {
    pub fn new(config: OntapConfig) -> Result<Self> {
        let mut origin = Url::parse(&config.endpoint)
            .map_err(|e| OntapError::Config(format!("endpoint {}: {e}", config.endpoint)))?;
        if origin.scheme() != "https" {
            return Err(OntapError::Config(format!(
                "endpoint {}: only https is supported",
                config.endpoint
            )));
        }
        origin.set_path("");
        origin.set_query(None);
        origin.set_fragment(None);
        let return_timeout_secs = config.return_timeout.as_secs().min(120);
        // The HTTP timeout must outlast ONTAP's own wait.
        let request_timeout = config
            .request_timeout
            .max(Duration::from_secs(return_timeout_secs + 10));
        let http = crate::http::build_client(
            config.ca_bundle_pem.as_deref(),
            config.insecure_skip_tls_verify,
            request_timeout,
            config.connect_timeout,
        )
        .map_err(OntapError::Config)?;
        Ok(Self {
            origin,
            http,
            username: config.username,
            password: config.password,
            return_timeout_secs,
            job_wait: config.job_wait,
            limiter: tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1)),
            observer: config.observer,
        })
    }

    /// Builds `origin + path?query`; `path` is already encoded (it starts with `/api/`).
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url> {
        let mut s = format!("{}{}", self.origin.as_str().trim_end_matches('/'), path);
        if !query.is_empty() {
            s.push(if path.contains('?') { '&' } else { '?' });
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
                .collect();
            s.push_str(&q.join("&"));
        }
        Url::parse(&s).map_err(|e| OntapError::Config(format!("bad URL {s}: {e}")))
    }

    async fn request(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| OntapError::Config("client closed".into()))?;
        let method_name = method.as_str().to_owned();
        let endpoint = request_observer::ontap_endpoint(url.path());
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(&self.username, Some(&self.password))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                "X-Dot-Client-App",
                concat!("pve-ontap-controller/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        let sent = req.send().await;
        let outcome = match &sent {
            Ok(resp) => Outcome::from_status(resp.status().as_u16()),
            Err(_) => Outcome::TransportError,
        };
        request_observer::report(
            self.observer.as_deref(),
            Backend::Ontap,
            &method_name,
            &endpoint,
            outcome,
            started.elapsed(),
        );
        let resp = sent.map_err(|e| OntapError::from_transport(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| OntapError::from_transport(&e))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if status >= 500 => {
                    return Err(OntapError::Transient {
                        message: format!("HTTP {status} without JSON body"),
                    })
                }
                Err(e) => {
                    return Err(OntapError::Protocol(format!(
                        "HTTP {status}: body is not JSON: {e}"
                    )))
                }
            }
        };
        if (200..300).contains(&status) {
            return Ok((status, value));
        }
        let err = value.get("error");
        let code = err.and_then(|e| e.get("code")).and_then(|c| match c {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        });
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let target = err
            .and_then(|e| e.get("target"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Err(OntapError::from_response(status, code, &message, target))
    }

    async fn get_one<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        let (_, v) = self
            .request(Method::GET, self.url(path, query)?, None)
            .await?;
        serde_json::from_value(v).map_err(|e| OntapError::Protocol(format!("decoding {path}: {e}")))
    }

    /// GETs a collection, following `_links.next` until the last page.
    async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        let mut url = self.url(path, query)?;
        let mut out = Vec::new();
        // A server that keeps returning `next` must not keep us here forever.
        for _ in 0..10_000 {
            let (_, v) = self.request(Method::GET, url.clone(), None).await?;
            if let Some(records) = v.get("records").and_then(Value::as_array) {
                for r in records {
                    out.push(serde_json::from_value(r.clone()).map_err(|e| {
                        OntapError::Protocol(format!("decoding {path} record: {e}"))
                    })?);
                }
            }
            match v.pointer("/_links/next/href").and_then(Value::as_str) {
                Some(next) => {
                    // `next` is an absolute path on the same origin; never follow it anywhere else.
                    if !next.starts_with('/') {
                        return Err(OntapError::Protocol(format!("unexpected next link {next}")));
                    }
                    url = self.url(next, &[])?;
                }
                None => return Ok(out),
            }
        }
        Err(OntapError::Protocol(format!("too many pages for {path}")))
    }

    /// Sends a job-starting request with `return_timeout`, then waits a bounded time for the job.
    async fn run_job(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Completion> {
        let rt = self.return_timeout_secs.to_string();
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("return_timeout", &rt));
        let (_, v) = self.request(method, self.url(path, &q)?, body).await?;
        match job_uuid_of(&v) {
            // Even a 200/201 carries the job link; how ONTAP reports a failure inside the return_timeout window is
            // not documented, so the job itself is the authority.
            Some(uuid) => self.wait_job(&uuid).await,
            None => Ok(Completion::Done),
        }
    }

    async fn wait_job(&self, uuid: &str) -> Result<Completion> {
        let deadline = tokio::time::Instant::now() + self.job_wait;
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(2))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build();
        loop {
            match self.job_completion(uuid).await {
                Ok(Completion::Done) => return Ok(Completion::Done),
                Ok(Completion::InProgress { .. }) => {}
                Err(e) if e.is_transient() => {
                    tracing::debug!(job = uuid, error = %e, "job poll failed; retrying")
                }
                Err(e) => return Err(e),
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Completion::InProgress {
                    job_uuid: uuid.to_string(),
                });
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(2));
            tokio::time::sleep(delay.min(deadline - now)).await;
        }
    }

    fn files_path(volume_uuid: &str, path: &str) -> String {
        let p = encode_file_path(path);
        if p.is_empty() {
            format!("/api/storage/volumes/{}/files", encode_segment(volume_uuid))
        } else {
            format!(
                "/api/storage/volumes/{}/files/{p}",
                encode_segment(volume_uuid)
            )
        }
    }
}

fn at_most_one<T>(mut records: Vec<T>, what: &str) -> Result<Option<T>> {
    match records.len() {
        0 => Ok(None),
        1 => Ok(records.pop()),
        n => Err(OntapError::Protocol(format!(
            "{n} records match {what}; expected at most one"
        ))),
    }
}

impl OntapClient {
    /// `GET /api/cluster`.
    pub async fn cluster(&self) -> Result<ClusterInfo> {
        self.get_one("/api/cluster", &[("fields", "name,uuid,version")])
            .await
    }

    /// `GET /api/svm/svms`.
    pub async fn svms(&self) -> Result<Vec<Svm>> {
        self.get_all("/api/svm/svms", &[("fields", "uuid,name,state")])
            .await
    }

    /// `GET /api/network/ip/interfaces[?ip.address=]`.
    pub async fn ip_interfaces(&self, address: Option<&str>) -> Result<Vec<IpInterface>> {
        let mut q = vec![(
            "fields",
            "uuid,name,ip.address,svm.name,svm.uuid,scope,state,services",
        )];
        if let Some(a) = address {
            q.push(("ip.address", a));
        }
        self.get_all("/api/network/ip/interfaces", &q).await
    }

    /// `GET /api/storage/volumes/{uuid}`.
    pub async fn volume(&self, uuid: &str) -> Result<Volume> {
        self.get_one(
            &format!("/api/storage/volumes/{}", encode_segment(uuid)),
            &[("fields", VOLUME_FIELDS)],
        )
        .await
    }

    /// `GET /api/storage/volumes/{uuid}` with the space figures discovery reports.
    pub async fn volume_usage(&self, uuid: &str) -> Result<VolumeUsage> {
        self.get_one(
            &format!("/api/storage/volumes/{}", encode_segment(uuid)),
            &[("fields", VOLUME_USAGE_FIELDS)],
        )
        .await
    }

    /// The volume `name` in SVM `svm`, if any.
    pub async fn find_volume(&self, svm: &str, name: &str) -> Result<Option<Volume>> {
        let v = self
            .get_all(
                "/api/storage/volumes",
                &[("svm.name", svm), ("name", name), ("fields", VOLUME_FIELDS)],
            )
            .await?;
        at_most_one(v, &format!("volume {svm}:{name}"))
    }

    /// The volume mounted at junction `path` in SVM `svm`, if any.
    pub async fn find_volume_by_path(&self, svm: &str, path: &str) -> Result<Option<Volume>> {
        let v = self
            .get_all(
                "/api/storage/volumes",
                &[
                    ("svm.name", svm),
                    ("nas.path", path),
                    ("fields", VOLUME_FIELDS),
                ],
            )
            .await?;
        at_most_one(v, &format!("junction {svm}:{path}"))
    }

    /// Volumes matching arbitrary ONTAP query parameters (e.g. `clone.parent_volume.uuid`).
    pub async fn list_volumes(&self, query: &[(&str, &str)]) -> Result<Vec<Volume>> {
        let mut q = query.to_vec();
        q.push(("fields", VOLUME_FIELDS));
        self.get_all("/api/storage/volumes", &q).await
    }

    /// `POST /api/storage/volumes` with `clone.is_flexclone`.
    pub async fn create_flexclone(&self, spec: &FlexCloneSpec) -> Result<Completion> {
        let mut body = json!({
            "name": spec.name,
            "svm": {"name": spec.svm},
            "clone": {
                "is_flexclone": true,
                "parent_volume": {"name": spec.parent_volume},
                "parent_snapshot": {"name": spec.parent_snapshot},
            },
        });
        if let Some(p) = &spec.junction_path {
            body["nas"] = json!({ "path": p });
        }
        if let Some(c) = &spec.comment {
            body["comment"] = json!(c);
        }
        self.run_job(Method::POST, "/api/storage/volumes", &[], Some(&body))
            .await
    }

    /// `PATCH /api/storage/volumes/{uuid}`.
    pub async fn patch_volume(&self, uuid: &str, patch: &VolumePatch) -> Result<Completion> {
        let mut body = json!({});
        if let Some(p) = &patch.junction_path {
            body["nas"] = json!({ "path": p });
        }
        if let Some(c) = &patch.comment {
            body["comment"] = json!(c);
        }
        if let Some(s) = patch.split {
            body["clone"] = json!({ "split_initiated": s });
        }
        if let Some(s) = &patch.state {
            body["state"] = json!(s);
        }
        if body.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(Completion::Done);
        }
        self.run_job(
            Method::PATCH,
            &format!("/api/storage/volumes/{}", encode_segment(uuid)),
            &[],
            Some(&body),
        )
        .await
    }

    /// `DELETE /api/storage/volumes/{uuid}`; `force` bypasses the recovery queue (ONTAP 9.12+).
    pub async fn delete_volume(&self, uuid: &str, force: bool) -> Result<Completion> {
        let q: Vec<(&str, &str)> = if force {
            vec![("force", "true")]
        } else {
            Vec::new()
        };
        self.run_job(
            Method::DELETE,
            &format!("/api/storage/volumes/{}", encode_segment(uuid)),
            &q,
            None,
        )
        .await
    }

    /// `volume recovery-queue show -vserver <svm>` through the private CLI passthrough.
    pub async fn recovery_queue(&self, svm: &str) -> Result<Vec<RecoveryQueueEntry>> {
        self.get_all(
            "/api/private/cli/volume/recovery-queue",
            &[
                ("vserver", svm),
                (
                    "fields",
                    "vserver,volume,deletion_request_time,retention_hours",
                ),
            ],
        )
        .await
    }

    /// `volume recovery-queue purge -vserver <svm> -volume <queued name>`; the caller proves the entry is its own.
    pub async fn purge_recovery_queue(&self, svm: &str, queued_name: &str) -> Result<()> {
        let body = json!({ "vserver": svm, "volume": queued_name });
        let url = self.url("/api/private/cli/volume/recovery-queue/purge", &[])?;
        self.request(Method::POST, url, Some(&body))
            .await
            .map(|_| ())
    }

    /// `PATCH /api/storage/volumes/{uuid}?restore_to.snapshot.uuid=...` (the documented query parameter):
    /// reverts the volume to the snapshot and deletes every newer snapshot (async job).
    pub async fn restore_volume(&self, uuid: &str, snapshot_uuid: &str) -> Result<Completion> {
        self.run_job(
            Method::PATCH,
            &format!("/api/storage/volumes/{}", encode_segment(uuid)),
            &[("restore_to.snapshot.uuid", snapshot_uuid)],
            Some(&json!({})),
        )
        .await
    }

    pub async fn snapshots(&self, volume_uuid: &str) -> Result<Vec<Snapshot>> {
        self.get_all(
            &format!(
                "/api/storage/volumes/{}/snapshots",
                encode_segment(volume_uuid)
            ),
            &[("fields", SNAPSHOT_FIELDS)],
        )
        .await
    }

    /// Every snapshot of a volume with its size, in one listing.
    pub async fn snapshot_details(&self, volume_uuid: &str) -> Result<Vec<SnapshotDetail>> {
        self.get_all(
            &format!(
                "/api/storage/volumes/{}/snapshots",
                encode_segment(volume_uuid)
            ),
            &[("fields", SNAPSHOT_DETAIL_FIELDS)],
        )
        .await
    }

    pub async fn snapshot(&self, volume_uuid: &str, snapshot_uuid: &str) -> Result<Snapshot> {
        self.get_one(
            &format!(
                "/api/storage/volumes/{}/snapshots/{}",
                encode_segment(volume_uuid),
                encode_segment(snapshot_uuid)
            ),
            &[("fields", SNAPSHOT_FIELDS)],
        )
        .await
    }

    pub async fn find_snapshot(&self, volume_uuid: &str, name: &str) -> Result<Option<Snapshot>> {
        let v = self
            .get_all(
                &format!(
                    "/api/storage/volumes/{}/snapshots",
                    encode_segment(volume_uuid)
                ),
                &[("name", name), ("fields", SNAPSHOT_FIELDS)],
            )
            .await?;
        at_most_one(v, &format!("snapshot {name}"))
    }

    pub async fn create_snapshot(
        &self,
        volume_uuid: &str,
        name: &str,
        comment: Option<&str>,
    ) -> Result<Completion> {
        let mut body = json!({ "name": name });
        if let Some(c) = comment {
            body["comment"] = json!(c);
        }
        self.run_job(
            Method::POST,
            &format!(
                "/api/storage/volumes/{}/snapshots",
                encode_segment(volume_uuid)
            ),
            &[],
            Some(&body),
        )
        .await
    }

    pub async fn delete_snapshot(
        &self,
        volume_uuid: &str,
        snapshot_uuid: &str,
    ) -> Result<Completion> {
        self.run_job(
            Method::DELETE,
            &format!(
                "/api/storage/volumes/{}/snapshots/{}",
                encode_segment(volume_uuid),
                encode_segment(snapshot_uuid)
            ),
            &[],
            None,
        )
        .await
    }

    /// `POST /api/storage/file/clone` (paths relative to the volume root; never overwrites).
    pub async fn clone_file(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
    ) -> Result<Completion> {
        self.clone_file_over(volume_uuid, volume_name, source, destination, false)
            .await
    }

    /// `POST /api/storage/file/clone`; with `overwrite`, an existing destination is replaced
    /// (`overwrite_destination`). The source may be in a snapshot: `.snapshot/<snapshot>/<path>`.
    pub async fn clone_file_over(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
        overwrite: bool,
    ) -> Result<Completion> {
        let body = json!({
            "volume": {"uuid": volume_uuid, "name": volume_name},
            "source_path": source,
            "destination_path": destination,
            "overwrite_destination": overwrite,
        });
        self.run_job(Method::POST, "/api/storage/file/clone", &[], Some(&body))
            .await
    }

    /// Puts one file back from a snapshot: a file clone from `.snapshot/<snapshot>/<path>` over the live file
    /// (`overwrite_destination`), ONTAP's documented single-file restore through file clone.
    pub async fn restore_file(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        snapshot: &str,
        path: &str,
    ) -> Result<Completion> {
        let source = format!(".snapshot/{snapshot}/{path}");
        self.clone_file_over(volume_uuid, volume_name, &source, path, true)
            .await
    }

    /// Metadata of one file or directory.
    pub async fn file_info(&self, volume_uuid: &str, path: &str) -> Result<FileInfo> {
        let (_, v) = self
            .request(
                Method::GET,
                self.url(
                    &Self::files_path(volume_uuid, path),
                    &[("return_metadata", "true"), ("fields", "*")],
                )?,
                None,
            )
            .await?;
        // The metadata answer is a one-record collection on current releases; accept a bare object too.
        let record = match v.get("records").and_then(Value::as_array) {
            Some(records) => records
                .first()
                .cloned()
                .ok_or_else(|| OntapError::NotFound {
                    code: 0,
                    message: format!("{path}: no metadata record"),
                })?,
            None => v,
        };
        serde_json::from_value(record)
            .map_err(|e| OntapError::Protocol(format!("decoding file metadata: {e}")))
    }

    /// Entries of a directory (without `.` and `..`); `""` is the volume root.
    pub async fn list_directory(&self, volume_uuid: &str, path: &str) -> Result<Vec<FileInfo>> {
        let entries: Vec<FileInfo> = self
            .get_all(
                &Self::files_path(volume_uuid, path),
                &[("fields", "name,type,size,path")],
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter(|e| !matches!(e.name.as_deref(), Some(".") | Some("..")))
            .collect())
    }

    /// Creates one directory level (the parent must exist).
    pub async fn create_directory(
        &self,
        volume_uuid: &str,
        path: &str,
        unix_permissions: &str,
    ) -> Result<()> {
        let body = json!({ "type": "directory", "unix_permissions": unix_permissions });
        let url = self.url(&Self::files_path(volume_uuid, path), &[])?;
        self.request(Method::POST, url, Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes a file or an empty directory (`recurse` removes a tree).
    pub async fn delete_file(
        &self,
        volume_uuid: &str,
        path: &str,
        recurse: bool,
    ) -> Result<Completion> {
        let q: Vec<(&str, &str)> = if recurse {
            vec![("recurse", "true")]
        } else {
            Vec::new()
        };
        self.run_job(
            Method::DELETE,
            &Self::files_path(volume_uuid, path),
            &q,
            None,
        )
        .await
    }

    /// Current state of a job: done, still running, or the job's failure as an error. A job that no longer
    /// exists (ONTAP forgets finished jobs after minutes) is `NotFound`; the caller re-observes the object.
    pub async fn job_completion(&self, job_uuid: &str) -> Result<Completion> {
        let job = self.job(job_uuid).await?;
        match job.state.as_str() {
            "success" => Ok(Completion::Done),
            "failure" | "cancelled" | "expired" => {
                let code = job
                    .error
                    .as_ref()
                    .and_then(|e| e.code)
                    .or(job.code)
                    .unwrap_or(0);
                let message = job
                    .error
                    .as_ref()
                    .and_then(|e| e.message.clone())
                    .or(job.message.clone())
                    .unwrap_or_else(|| format!("job {} ended in {}", job.uuid, job.state));
                Err(OntapError::from_job_failure(code, &message))
            }
            _ => Ok(Completion::InProgress { job_uuid: job.uuid }),
        }
    }

    /// `GET /api/cluster/jobs/{uuid}`.
    pub async fn job(&self, job_uuid: &str) -> Result<Job> {
        // No `fields`: the default instance view carries state/message/code everywhere, while naming `error`
        // (added after 9.8) would be rejected as an unknown field on older releases.
        self.get_one(
            &format!("/api/cluster/jobs/{}", encode_segment(job_uuid)),
            &[],
        )
        .await
    }

    /// `PATCH /api/storage/volumes/{volume.uuid}/snapshots/{uuid}` with `comment` (async job).
    pub async fn set_snapshot_comment(
        &self,
        volume_uuid: &str,
        snapshot_uuid: &str,
        comment: &str,
    ) -> Result<Completion> {
        self.run_job(
            Method::PATCH,
            &format!(
                "/api/storage/volumes/{}/snapshots/{}",
                encode_segment(volume_uuid),
                encode_segment(snapshot_uuid)
            ),
            &[],
            Some(&json!({ "comment": comment })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OntapClient {
        OntapClient::new(OntapConfig::new(
            "https://127.0.0.1:8443",
            "admin",
            "secret-pw",
        ))
        .unwrap()
    }

    #[test]
    fn file_paths_are_one_encoded_segment() {
        assert_eq!(
            OntapClient::files_path("u-1", "images/100/vm-100-disk-0.raw"),
            "/api/storage/volumes/u-1/files/images%2F100%2Fvm-100-disk-0%2Eraw"
        );
        assert_eq!(
            OntapClient::files_path("u", ""),
            "/api/storage/volumes/u/files"
        );
        assert_eq!(
            OntapClient::files_path("u", "/images/"),
            "/api/storage/volumes/u/files/images"
        );
        let url = client()
            .url(&OntapClient::files_path("u", "a/b.c"), &[])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://127.0.0.1:8443/api/storage/volumes/u/files/a%2Fb%2Ec"
        );
    }

    #[test]
    fn query_values_are_encoded() {
        let url = client()
            .url(
                "/api/storage/volumes",
                &[("nas.path", "/pve data"), ("name", "a&b")],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://127.0.0.1:8443/api/storage/volumes?nas.path=/pve%20data&name=a%26b"
        );
        let next = client()
            .url(
                "/api/storage/volumes?start.uuid=x&max_records=1",
                &[("return_timeout", "5")],
            )
            .unwrap();
        assert_eq!(next.as_str(), "https://127.0.0.1:8443/api/storage/volumes?start.uuid=x&max_records=1&return_timeout=5");
    }

    #[test]
    fn debug_redacts_password() {
        let c = client();
        assert!(!format!("{c:?}").contains("secret-pw"));
        let cfg = OntapConfig::new("https://x", "admin", "secret-pw");
        assert!(!format!("{cfg:?}").contains("secret-pw"));
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            OntapClient::new(OntapConfig::new("http://127.0.0.1", "a", "b")),
            Err(OntapError::Config(_))
        ));
        let mut cfg = OntapConfig::new("https://127.0.0.1", "a", "b");
        cfg.ca_bundle_pem = Some(b"garbage".to_vec());
        assert!(matches!(OntapClient::new(cfg), Err(OntapError::Config(_))));
    }

    #[test]
    fn job_links() {
        let v = serde_json::json!({"job": {"uuid": "j1", "_links": {"self": {"href": "/api/cluster/jobs/j1"}}}});
        assert_eq!(job_uuid_of(&v).as_deref(), Some("j1"));
        assert_eq!(job_uuid_of(&Value::Null), None);
    }
}
