//! Shared harness of the controller scenario tests: a fresh namespace on the shared apiserver, the chart's
//! ServiceAccount as the controller's identity, an in-process simulator over HTTPS, backends and Secrets pointing
//! at it, and the controller runtime running in the test's tokio runtime.

#![allow(dead_code)]

pub mod accounts;
mod builders;

// Every test binary compiles this module; not all of them build fixtures.
#[allow(unused_imports)]
pub use builders::*;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use pve_ontap_controller::api::{
    OntapCluster, Phase, ProxmoxCluster, VolumeSnapshot, VolumeSnapshotStatus,
};
pub use pve_ontap_controller::controller::clock::Clock;
use pve_ontap_controller::controller::context::Settings;
use pve_ontap_controller::controller::object::Managed;
use pve_ontap_controller::controller::runtime;
use pve_ontap_controller::metrics::Metrics;
use pve_ontap_sim::{RunningSim, SimOptions};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const PVE_TOKEN: &str = "root@pam!ci=d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90";
/// Safety limit for waits; tests never assert on durations.
pub const WAIT: Duration = Duration::from_secs(90);

/// A namespaced kind the harness can create, read, wait for and delete (any CRD or built-in namespaced type).
pub trait Namespaced:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
{
}

/// Every line the controller logged in this test process at debug level and above (all tests of the binary
/// share it), so a test can check what the logs carry; with `RUST_LOG` set, the lines matching it are also
/// printed, for diagnosing a failing scenario.
pub fn captured_logs() -> String {
    let buf = capture_logs().lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&buf).into_owned()
}

fn capture_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let logs = LOGS.get_or_init(Default::default);
    INSTALL.call_once(|| {
        struct Sink;
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let logs = LOGS.get().expect("initialised");
                logs.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| Sink)
            .with_filter(tracing_subscriber::EnvFilter::new(
                "pve_ontap_controller=debug",
            ));
        let shown = std::env::var_os("RUST_LOG").map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        let _ = tracing_subscriber::registry()
            .with(captured)
            .with(shown)
            .try_init();
    });
    logs
}

/// Mutating calls (POST, PATCH, PUT, DELETE) the simulator counted for `api` (`pve`/`ontap`).
pub fn mutating_calls(stats: &Value, api: &str) -> u64 {
    ["POST", "PATCH", "PUT", "DELETE"]
        .iter()
        .map(|m| route_calls(stats, api, m, ""))
        .sum()
}

/// Namespace of every harness's backend Secrets (see [`Harness::start_with`]).
pub const SECRETS_NAMESPACE: &str = "pve-ontap-test-secrets";

pub struct Harness {
    pub ns: String,
    /// Where the backends' Secrets are, and the ProxmoxCluster's credentials Secret.
    pub secrets_ns: String,
    pub pve_secret: String,
    pub admin: Client,
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub pve_name: String,
    pub ontap_name: String,
    /// The running controller's metrics (replaced on each start, like a new process).
    pub metrics: Arc<Metrics>,
    /// The controller's clock for schedules (see [`Options::clock`]).
    pub clock: Clock,
    fsfreeze_deadline: Option<Duration>,
    discovery_interval: Option<Duration>,
    hosts: Vec<(String, std::net::IpAddr)>,
    shutdown: CancellationToken,
    controller: Option<tokio::task::JoinHandle<()>>,
    controller_client: Client,
    _tmp: tempfile::TempDir,
}

#[derive(Default)]
pub struct Options {
    /// Namespaces the backends allow; default: the test namespace.
    pub allowed_namespaces: Option<Vec<String>>,
    /// Simulator scenario (e.g. slower Proxmox tasks); default: the built-in one.
    pub scenario: Option<pve_ontap_sim::Scenario>,
    /// Fields added to the ProxmoxCluster's and the OntapCluster's spec (e.g. `scopes`), there before the
    /// controller starts.
    pub pve_spec: Option<Value>,
    pub ontap_spec: Option<Value>,
    /// The controller's Proxmox API token (`USER@REALM!ID=SECRET`); default [`PVE_TOKEN`] (root).
    pub pve_token: Option<String>,
    /// The controller's ONTAP login; default `admin`.
    pub ontap_login: Option<(String, String)>,
    /// The controller's clock for schedules; default the system clock.
    pub clock: Option<Clock>,
    /// The controller's fs-freeze deadline; default the controller's.
    pub fsfreeze_deadline: Option<Duration>,
    /// Run discovery (OntapStorage) with this period; default off, so other tests' call counts stay theirs.
    pub discovery_interval: Option<Duration>,
}

impl Harness {
    pub async fn start(prefix: &str) -> Harness {
        Self::start_with(prefix, Options::default()).await
    }

    pub async fn start_with(prefix: &str, opts: Options) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        capture_logs();
        let cp = testkit::shared().await.expect("control plane");
        let ns = cp.create_namespace(prefix).await.expect("namespace");
        let admin = cp.admin_client().await.expect("admin client");
        // Backends are cluster-scoped, so every controller of this test binary sees every test's backends. Their
        // Secrets live in one namespace all of them may read (the chart's rbac.secretNamespaces), as at a site
        // with one controller; otherwise one test's controller would mark another test's backends unreadable.
        let secrets_ns = SECRETS_NAMESPACE.to_owned();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
        let _ = namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({ "metadata": { "name": secrets_ns } })).unwrap(),
            )
            .await;
        let identity = testkit::ChartIdentity::install_rendered(
            cp,
            testkit::Render::new(&ns, &ns)
                .show_only(testkit::chart::RBAC_TEMPLATES)
                .set("rbac.secretNamespaces", &format!("{{{ns},{secrets_ns}}}")),
        )
        .await
        .expect("chart identity");
        let controller_client = identity.client(cp).await.expect("controller client");

        let tmp = tempfile::tempdir().expect("tempdir");
        let mut opts = opts;
        // Under `PVEONTAP_TEST_ACCOUNTS=least-privilege`, every test that does not choose its accounts runs as the
        // README's least-privilege accounts.
        if accounts::least_privilege_by_default()
            && opts.pve_token.is_none()
            && opts.ontap_login.is_none()
        {
            let scenario = opts
                .scenario
                .take()
                .unwrap_or_else(pve_ontap_sim::Scenario::default_scenario);
            opts.scenario = Some(accounts::with_accounts(
                scenario,
                &accounts::readme_pve_privileges(),
                &accounts::readme_ontap_tuples(),
            ));
            opts.pve_token = Some(format!(
                "{}={}",
                accounts::LP_PVE_TOKEN_ID,
                accounts::LP_TOKEN_SECRET
            ));
            opts.ontap_login = Some((
                accounts::LP_ONTAP_LOGIN.into(),
                accounts::LP_ONTAP_PASSWORD.into(),
            ));
        }
        let mut sim_opts = SimOptions::ephemeral(tmp.path().join("tls"));
        // The controller knows the world's host names as it would from the site's DNS, and nothing else.
        let hosts = opts
            .scenario
            .as_ref()
            .map(|s| s.hosts.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(n, a)| (n, a.parse().expect("scenario host address")))
            .collect::<Vec<_>>();
        if let Some(scenario) = opts.scenario {
            sim_opts.scenario = pve_ontap_sim::ScenarioSource::Value(Box::new(scenario));
        }
        let sim = pve_ontap_sim::start(sim_opts).await.expect("simulator");
        let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("sim CA");
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .expect("http client");

        let secrets: Api<Secret> = Api::namespaced(admin.clone(), &secrets_ns);
        let pve_secret = format!("{ns}-pve-credentials");
        let ontap_secret = format!("{ns}-ontap-credentials");
        let ca_secret = format!("{ns}-sim-ca");
        for (name, data) in [
            (
                pve_secret.as_str(),
                json!({ "token": opts.pve_token.clone().unwrap_or_else(|| PVE_TOKEN.into()) }),
            ),
            (ontap_secret.as_str(), {
                let (u, p) = opts
                    .ontap_login
                    .clone()
                    .unwrap_or_else(|| ("admin".into(), "netapp123".into()));
                json!({ "username": u, "password": p })
            }),
            (ca_secret.as_str(), json!({ "ca.crt": sim.ca_pem() })),
        ] {
            let secret: Secret = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": name, "namespace": secrets_ns },
                "stringData": data,
            }))
            .unwrap();
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .expect("secret");
        }
        let allowed = opts.allowed_namespaces.unwrap_or_else(|| vec![ns.clone()]);
        let pve_name = format!("{ns}-pve");
        let ontap_name = format!("{ns}-ontap");
        // Both backends share the Secrets' namespace, the simulator's CA and the allow-list.
        let backend = |kind: &str,
                       name: &str,
                       endpoint: (&str, Value),
                       secret: &str,
                       extra: &Option<Value>| {
            let mut spec = json!({
                "credentialsSecretRef": { "name": secret, "namespace": secrets_ns },
                "caBundleSecretRef": { "name": ca_secret, "namespace": secrets_ns, "key": "ca.crt" },
                "allowedNamespaces": allowed,
            });
            spec[endpoint.0] = endpoint.1;
            if let Some(Value::Object(extra)) = extra {
                spec.as_object_mut().unwrap().extend(extra.clone());
            }
            json!({ "apiVersion": "pveontap.io/v1alpha1", "kind": kind, "metadata": { "name": name }, "spec": spec })
        };
        let pc: ProxmoxCluster = serde_json::from_value(backend(
            "ProxmoxCluster",
            &pve_name,
            ("endpoints", json!([sim.pve_url()])),
            &pve_secret,
            &opts.pve_spec,
        ))
        .unwrap();
        Api::<ProxmoxCluster>::all(admin.clone())
            .create(&PostParams::default(), &pc)
            .await
            .expect("ProxmoxCluster");
        let oc: OntapCluster = serde_json::from_value(backend(
            "OntapCluster",
            &ontap_name,
            ("endpoint", json!(sim.ontap_url())),
            &ontap_secret,
            &opts.ontap_spec,
        ))
        .unwrap();
        Api::<OntapCluster>::all(admin.clone())
            .create(&PostParams::default(), &oc)
            .await
            .expect("OntapCluster");

        let mut h = Harness {
            ns,
            secrets_ns,
            pve_secret,
            admin,
            sim,
            http,
            pve_name,
            ontap_name,
            metrics: Arc::new(Metrics::new()),
            clock: opts.clock.clone().unwrap_or_default(),
            fsfreeze_deadline: opts.fsfreeze_deadline,
            discovery_interval: opts.discovery_interval,
            hosts,
            shutdown: CancellationToken::new(),
            controller: None,
            controller_client,
            _tmp: tmp,
        };
        h.start_controller();
        h
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings::new("test-cluster");
        s.namespaces = vec![self.ns.clone()];
        s.backoff_base = Duration::from_millis(200);
        s.backoff_max = Duration::from_secs(3);
        s.clock = self.clock.clone();
        if let Some(d) = self.fsfreeze_deadline {
            s.fsfreeze_deadline = d;
        }
        s.discovery_interval = self.discovery_interval;
        s.hosts =
            pve_ontap_controller::controller::resolve::HostResolver::fixed(self.hosts.clone());
        s
    }

    /// Starts the controller runtime (as the chart's ServiceAccount) in this test's runtime.
    pub fn start_controller(&mut self) {
        self.shutdown = CancellationToken::new();
        let client = self.controller_client.clone();
        let settings = self.settings();
        let token = self.shutdown.clone();
        self.metrics = Arc::new(Metrics::new());
        let metrics = self.metrics.clone();
        self.controller = Some(tokio::spawn(async move {
            runtime::run(client, settings, metrics, token)
                .await
                .expect("controller runtime");
        }));
    }

    /// Stops the controller and waits for in-flight reconciles to finish.
    pub async fn stop_controller(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.controller.take() {
            h.await.expect("controller task");
        }
    }

    /// Kills the controller without a graceful shutdown (a crash, as far as the world can tell).
    pub fn kill_controller(&mut self) {
        if let Some(h) = self.controller.take() {
            h.abort();
        }
    }

    pub async fn inventory(&self) -> Value {
        self.http
            .get(format!("{}/_sim/inventory", self.sim.ontap_url()))
            .send()
            .await
            .expect("inventory")
            .json()
            .await
            .expect("inventory json")
    }

    /// `GET /_sim/stats`: call counts per API, method and route template.
    pub async fn sim_stats(&self) -> Value {
        self.http
            .get(format!("{}/_sim/stats", self.sim.ontap_url()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    pub async fn add_fault(&self, fault: Value) {
        let resp = self
            .http
            .post(format!("{}/_sim/faults", self.sim.ontap_url()))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert!(
            resp.status().is_success(),
            "fault rejected: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) {
        let resp = self
            .http
            .delete(format!("{}/_sim/faults", self.sim.ontap_url()))
            .send()
            .await
            .expect("faults");
        assert!(resp.status().is_success());
    }

    /// A snapshot made by someone else (an administrator, a schedule, Trident) directly through ONTAP's REST API,
    /// on volume `volume`; returns its uuid once the inventory shows it.
    pub async fn foreign_snapshot(&self, volume_name: &str, name: &str) -> String {
        let inv = self.inventory().await;
        let uuid = volume(&inv, volume_name).unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ontap_call(
            reqwest::Method::POST,
            &format!("/api/storage/volumes/{uuid}/snapshots?return_timeout=30"),
            Some(json!({ "name": name, "comment": "made by someone else" })),
        )
        .await;
        let inv = self
            .wait_inventory("the foreign snapshot", |inv| {
                snapshot_names(inv, volume_name).iter().any(|n| n == name)
            })
            .await;
        volume(&inv, volume_name).unwrap()["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// JSON merge patch of an object's spec (`{"spec": ...}`); returns the patched object.
    pub async fn patch_spec<K: Namespaced>(&self, name: &str, spec: Value) -> K {
        self.api::<K>()
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("patch")
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    pub async fn create<K>(&self, value: Value) -> K
    where
        K: Namespaced,
    {
        let obj: K = serde_json::from_value(value).expect("object");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create")
    }

    /// Creates the object of `manifest` and waits until it is Ready for its generation (see [`is_ready`]).
    pub async fn create_ready<K: Managed>(&self, manifest: Value) -> K {
        let name = self.create::<K>(manifest).await.name_any();
        self.wait_ready::<K>(&name).await
    }

    /// Creates the object of `manifest` and waits until `pred` holds for it.
    pub async fn create_wait_for<K: Namespaced>(
        &self,
        manifest: Value,
        pred: impl Fn(&K) -> bool,
    ) -> K {
        let name = self.create::<K>(manifest).await.name_any();
        self.wait_for::<K>(&name, pred).await
    }

    /// Creates the object of `manifest` and waits until it reaches `phase`.
    pub async fn create_phase<K: Managed>(&self, manifest: Value, phase: Phase) -> K {
        let name = self.create::<K>(manifest).await.name_any();
        self.wait_phase::<K>(&name, phase).await
    }

    /// Creates the VolumeSnapshot of `manifest` and waits until it is Ready and ready to use (see
    /// [`ready_to_use`]); returns its status.
    pub async fn take_snapshot(&self, manifest: Value) -> VolumeSnapshotStatus {
        self.create_wait_for::<VolumeSnapshot>(manifest, ready_to_use)
            .await
            .status
            .unwrap_or_default()
    }

    /// Deletes the object, waits until it is gone and asserts that the inventory equals `before` in every
    /// respect of `unchanged` (see [`assert_unchanged`]); returns the inventory after.
    pub async fn delete_and_assert_unchanged<K: Namespaced>(
        &self,
        name: &str,
        before: &Value,
        unchanged: &[Unchanged<'_>],
    ) -> Value {
        self.delete_and_wait::<K>(name).await;
        let after = self.inventory().await;
        assert_unchanged(before, &after, unchanged);
        after
    }

    /// Asserts that object `name` has an Event of `type_` (`Normal`, `Warning`) with `reason`.
    pub async fn assert_event(&self, name: &str, type_: &str, reason: &str) {
        let events = self.events_for(name).await;
        assert!(
            events.iter().any(|(t, r)| t == type_ && r == reason),
            "no {type_} event {reason} for {name}: {events:?}"
        );
    }

    /// Polls until `pred` holds; panics with the last seen object after [`WAIT`].
    pub async fn wait_for<K>(&self, name: &str, pred: impl Fn(&K) -> bool) -> K
    where
        K: Namespaced,
    {
        let api = self.api::<K>();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let obj = api.get(name).await.expect("get");
            if pred(&obj) {
                return obj;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "condition not reached; last object: {}",
                    serde_json::to_string_pretty(&obj).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Deletes and waits until the object is gone (finalizer released).
    pub async fn delete_and_wait<K>(&self, name: &str)
    where
        K: Namespaced,
    {
        self.request_delete::<K>(name).await;
        self.wait_gone::<K>(name).await;
    }

    /// Asks for deletion and returns at once (the finalizer may keep the object).
    pub async fn request_delete<K>(&self, name: &str)
    where
        K: Namespaced,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }

    /// Polls until the object is gone; panics with the last seen object after [`WAIT`].
    pub async fn wait_gone<K>(&self, name: &str)
    where
        K: Namespaced,
    {
        let api = self.api::<K>();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match api.get_opt(name).await.expect("get") {
                None => return,
                Some(obj) if tokio::time::Instant::now() > deadline => {
                    panic!(
                        "object not deleted; last: {}",
                        serde_json::to_string_pretty(&obj).unwrap()
                    )
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits until the object is Ready for its current generation (see [`is_ready`]).
    pub async fn wait_ready<K: Managed>(&self, name: &str) -> K {
        self.wait_for::<K>(name, is_ready).await
    }

    /// Waits until the object reaches `phase`.
    pub async fn wait_phase<K: Managed>(&self, name: &str, phase: Phase) -> K {
        self.wait_for::<K>(name, |o| phase_of(o) == phase).await
    }

    /// Waits until the object carries condition `type_` (with `reason`, when given); returns that condition too.
    pub async fn wait_condition<K: Managed>(
        &self,
        name: &str,
        type_: &str,
        reason: Option<&str>,
    ) -> (K, Condition) {
        let matches = |c: &Condition| c.type_ == type_ && reason.is_none_or(|r| c.reason == r);
        let obj = self
            .wait_for::<K>(name, |o| conditions_of(o).iter().any(matches))
            .await;
        let c = conditions_of(&obj).into_iter().find(matches).unwrap();
        (obj, c)
    }

    /// Requests deletion and waits until it is blocked with `DeletionBlocked`/`reason`; returns the object.
    pub async fn delete_and_wait_blocked<K: Managed>(&self, name: &str, reason: &str) -> K {
        self.request_delete::<K>(name).await;
        self.wait_condition::<K>(name, "DeletionBlocked", Some(reason))
            .await
            .0
    }

    /// Polls the simulator's inventory until `pred` holds; panics saying `what` after [`WAIT`].
    pub async fn wait_inventory(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let inv = self.inventory().await;
            if pred(&inv) {
                return inv;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached: {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A Proxmox API call as an administrator would make it (the CI token), bypassing the controller; `path` is
    /// below `/api2/json`. Panics unless Proxmox answers with success; returns `data`.
    pub async fn pve_call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Value {
        let url = format!("{}/api2/json{path}", self.sim.pve_url());
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("Authorization", format!("PVEAPIToken={PVE_TOKEN}"));
        if !form.is_empty() {
            req = req.form(form);
        }
        let resp = req.send().await.expect("Proxmox request");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        serde_json::from_str::<Value>(&body).unwrap_or_default()["data"].take()
    }

    /// An ONTAP REST call as an administrator would make it (`admin`), bypassing the controller; `path` starts
    /// with `/api`. Panics unless ONTAP answers with success; returns the body (`null` when there is none).
    pub async fn ontap_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.sim.ontap_url()))
            .basic_auth("admin", Some("netapp123"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("ONTAP request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_default()
    }

    pub async fn events_for(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.admin.clone(), &self.ns);
        api.list(&Default::default())
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
            .collect()
    }

    pub async fn finish(mut self) {
        self.stop_controller().await;
        let _ = Api::<ProxmoxCluster>::all(self.admin.clone())
            .delete(&self.pve_name, &DeleteParams::default())
            .await;
        let _ = Api::<OntapCluster>::all(self.admin.clone())
            .delete(&self.ontap_name, &DeleteParams::default())
            .await;
        self.sim.shutdown().await;
    }
}

/// An ONTAP volume of the inventory, by name.
pub fn volume<'a>(inv: &'a Value, name: &str) -> Option<&'a Value> {
    inv["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
}

/// One respect in which an inventory must equal an earlier one (see [`assert_unchanged`]).
#[derive(Clone, Copy, Debug)]
pub enum Unchanged<'a> {
    /// The files of an ONTAP volume (see [`volume_files`]): no copy left behind, nothing else removed.
    Files(&'a str),
    /// The snapshots of an ONTAP volume, as the inventory shows them (see [`snapshots`]).
    Snapshots(&'a str),
    /// Every Proxmox storage.
    Storages,
    /// A VM's config.
    VmConfig(u64),
    /// A VM's pending changes.
    VmPending(u64),
    /// A VM's power state (see [`power_of`]).
    Power(u64),
    /// The simulator's Proxmox events (see [`sim_events`]): nothing happened to any VM.
    PveEvents,
    /// The simulator's Proxmox events about one VM (see [`pve_events_for`]).
    VmEvents(u32),
}

/// Asserts that `after` equals `before` in every respect of `unchanged`.
pub fn assert_unchanged(before: &Value, after: &Value, unchanged: &[Unchanged<'_>]) {
    let vm_field = |inv: &Value, vmid: u64, field: &str| {
        vm(inv, vmid).unwrap_or_else(|| panic!("no VM {vmid}"))[field].clone()
    };
    for &respect in unchanged {
        let of = |inv: &Value| match respect {
            Unchanged::Files(v) => json!(volume_files(inv, v)),
            Unchanged::Snapshots(v) => json!(snapshots(inv, v)),
            Unchanged::Storages => inv["pve"]["storages"].clone(),
            Unchanged::VmConfig(id) => vm_field(inv, id, "config"),
            Unchanged::VmPending(id) => vm_field(inv, id, "pending"),
            Unchanged::Power(id) => json!(power_of(inv, id)),
            Unchanged::PveEvents => json!(sim_events(inv)),
            Unchanged::VmEvents(id) => json!(pve_events_for(inv, id)),
        };
        assert_eq!(of(after), of(before), "{respect:?} changed");
    }
}

/// What the inventory must keep: storages, VMs (state and config) and volumes (snapshots, files, clones).
pub fn fingerprint(inv: &Value) -> Value {
    let vms: BTreeMap<String, Value> = inv["pve"]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["vmid"].to_string(),
                json!([
                    v["status"],
                    v["qmpstatus"],
                    v["frozen"],
                    v["config"],
                    v["pending"],
                    v["pending_delete"]
                ]),
            )
        })
        .collect();
    let volumes: BTreeMap<String, Value> = inv["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let snaps: Vec<Value> = v["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| json!([s["name"], s["comment"]]))
                .collect();
            let name = v["name"].as_str().unwrap();
            (
                name.to_owned(),
                json!([v["nas_path"], v["comment"], snaps, volume_files(inv, name)]),
            )
        })
        .collect();
    json!({ "storages": inv["pve"]["storages"], "vms": vms, "volumes": volumes })
}

/// Names of the snapshots of an ONTAP volume in the inventory.
pub fn snapshot_names(inv: &Value, vol: &str) -> Vec<String> {
    volume(inv, vol).unwrap_or_else(|| panic!("no volume {vol}"))["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The snapshots of an ONTAP volume in the inventory.
pub fn snapshots(inv: &Value, vol: &str) -> Vec<Value> {
    volume(inv, vol).unwrap_or_else(|| panic!("no volume {vol}"))["snapshots"]
        .as_array()
        .unwrap()
        .clone()
}

/// The snapshot `name` of an ONTAP volume in the inventory.
pub fn snapshot(inv: &Value, vol: &str, name: &str) -> Option<Value> {
    snapshots(inv, vol).into_iter().find(|s| s["name"] == name)
}

/// A Proxmox storage of the inventory, by id.
pub fn storage<'a>(inv: &'a Value, id: &str) -> Option<&'a Value> {
    inv["pve"]["storages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["storage"] == id)
}

/// Files of an ONTAP volume in the inventory, sorted.
pub fn volume_files(inv: &Value, volume: &str) -> Vec<String> {
    let mut files: Vec<String> = inv["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == volume)
        .unwrap_or_else(|| panic!("no volume {volume}"))["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["type"].as_str().unwrap_or("?"),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    files.sort();
    files
}

/// Whether the ONTAP volume has a file at `path` (e.g. a copy's `clonePath`).
pub fn has_file(inv: &Value, volume: &str, path: &str) -> bool {
    volume_files(inv, volume).contains(&format!("file:{path}"))
}

pub fn vm(inv: &Value, vmid: u64) -> Option<&Value> {
    inv["pve"]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vmid"] == vmid)
}

/// `(kind, detail)` of the simulator's PVE events.
pub fn sim_events(inv: &Value) -> Vec<(String, String)> {
    inv["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["api"] == "pve")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["detail"].to_string(),
            )
        })
        .collect()
}

pub fn name_of<K: Resource>(k: &K) -> String {
    k.name_any()
}

/// Kinds of the simulator's PVE events that concern VM `vmid`, in order.
pub fn pve_events_for(inv: &Value, vmid: u32) -> Vec<String> {
    sim_events(inv)
        .into_iter()
        .filter(|(_, d)| d.contains(&format!("VM {vmid}")))
        .map(|(k, _)| k)
        .collect()
}

/// The suspends and resumes of VM `vmid` among the simulator's PVE events, in order.
pub fn pause_events(inv: &Value, vmid: u32) -> Vec<String> {
    pve_events_for(inv, vmid)
        .into_iter()
        .filter(|k| k == "suspend" || k == "resume")
        .collect()
}

/// Asserts that VM `vmid` runs and is not paused.
pub fn assert_running(inv: &Value, vmid: u64) {
    assert_eq!(
        power_of(inv, vmid),
        ("running".to_owned(), "running".to_owned()),
        "VM {vmid}: {}",
        vm(inv, vmid).unwrap()
    );
}

/// `(status, qmpstatus)` of a VM in the inventory, e.g. `("running", "running")` or `("running", "paused")`.
pub fn power_of(inv: &Value, vmid: u64) -> (String, String) {
    let vm = vm(inv, vmid).unwrap_or_else(|| panic!("no VM {vmid}"));
    (
        vm["status"].as_str().unwrap_or_default().to_owned(),
        vm["qmpstatus"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The default scenario with some Proxmox task types slowed down (milliseconds per task type).
pub fn slow_pve(tasks: &[(&str, u64)]) -> Options {
    let mut scenario = pve_ontap_sim::Scenario::default_scenario();
    for (kind, ms) in tasks {
        scenario.timings.pve.tasks.insert((*kind).to_owned(), *ms);
    }
    Options {
        scenario: Some(scenario),
        ..Default::default()
    }
}

pub fn phase_of<K: Managed>(o: &K) -> Phase {
    let mut st = o.status_cloned();
    *K::common(&mut st).phase
}

pub fn conditions_of<K: Managed>(o: &K) -> Vec<Condition> {
    let mut st = o.status_cloned();
    K::common(&mut st).conditions.clone()
}

pub fn message_of<K: Managed>(o: &K) -> String {
    let mut st = o.status_cloned();
    K::common(&mut st).message.clone().unwrap_or_default()
}

/// Ready for the object's current generation: phase Ready, `observedGeneration` current, Ready condition True.
pub fn is_ready<K: Managed>(o: &K) -> bool {
    let gen = o.meta().generation;
    let mut st = o.status_cloned();
    let common = K::common(&mut st);
    *common.phase == Phase::Ready
        && *common.observed_generation == gen
        && common
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A snapshot that can be used: Ready for its generation and `readyToUse`.
pub fn ready_to_use(o: &VolumeSnapshot) -> bool {
    is_ready(o) && o.status.as_ref().is_some_and(|s| s.ready_to_use)
}

/// The condition of `type_` among `conds`.
pub fn condition<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

/// Calls counted in `/_sim/stats` for `api` (`pve`/`ontap`), `method` and a route template ending in `suffix`
/// (e.g. `/qemu/{vmid}/pending`).
pub fn route_calls(stats: &Value, api: &str, method: &str, suffix: &str) -> u64 {
    stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["api"] == api && r["method"] == method)
        .filter(|r| r["route"].as_str().unwrap_or_default().ends_with(suffix))
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum()
}

/// A manifest of one of our kinds (`pveontap.io/v1alpha1`).
pub fn manifest(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": kind,
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// A VmDiskClone of VM 100 on ProxmoxCluster `pve`; `spec` adds to or overrides those defaults.
pub fn vdc(name: &str, pve: &str, spec: Value) -> Value {
    let mut s = json!({ "proxmoxClusterRef": { "name": pve }, "vmid": 100 });
    s.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    manifest("VmDiskClone", name, s)
}
