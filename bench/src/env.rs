//! The benchmark environment: a real control plane, one in-process simulator per world, backends and Secrets
//! pointing at them, and the release controller running under the chart's ServiceAccount.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::Client;
use pve_ontap_sim::{RunningSim, ScenarioSource, SimOptions};
use serde_json::{json, Value};

use crate::controller::{Controller, Launch};
use crate::objects::Objects;
use crate::simstats::{self, Snapshot};
use crate::world::WorldSpec;

/// Namespace of the controller's identity and of the backend Secrets.
pub const SYSTEM_NS: &str = "pve-ontap-system";
/// A namespace no backend allows (the footprint run fills it).
pub const FORBIDDEN_NS: &str = "bench-forbidden";
/// Credentials of the simulator's default scenario (kept by the generated worlds).
const PVE_TOKEN: &str = "root@pam!ci=d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90";

/// One simulated world with its backends.
pub struct WorldEnv {
    pub spec: WorldSpec,
    pub sim: RunningSim,
    pub http: reqwest::Client,
    /// Namespace the world's backends allow.
    pub namespace: String,
    pub pve_name: String,
    pub ontap_name: String,
    pub objects: Objects,
}

impl WorldEnv {
    pub async fn stats(&self) -> anyhow::Result<Snapshot> {
        Ok(simstats::snapshot(&self.http, &self.sim.ontap_url()).await?)
    }

    /// Waits until the simulator has seen no call for `quiet` (the controller's follow-up work is done).
    pub async fn settle(&self, quiet: Duration, limit: Duration) -> anyhow::Result<Snapshot> {
        let started = Instant::now();
        let mut last = self.stats().await?;
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.stats().await?;
            if now.total_calls() != last.total_calls() {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet || started.elapsed() >= limit {
                return Ok(now);
            }
        }
    }

    /// Adds latency to every backend call of this world (`None` removes all faults).
    pub async fn set_latency(&self, latency_ms: Option<u64>) -> anyhow::Result<()> {
        let url = format!("{}/_sim/faults", self.sim.ontap_url());
        self.http.delete(&url).send().await?.error_for_status()?;
        if let Some(ms) = latency_ms {
            self.http
                .post(&url)
                .json(&json!({ "latency_ms": ms }))
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }
}

pub struct Env {
    pub cp: testkit::ControlPlane,
    pub admin: Client,
    pub worlds: Vec<WorldEnv>,
    pub launch: Launch,
    pub controller: Option<Controller>,
}

impl Env {
    pub async fn start(
        specs: Vec<WorldSpec>,
        launch: Launch,
        workdir: &Path,
    ) -> anyhow::Result<Env> {
        let cp = testkit::ControlPlane::start_with(testkit::Options {
            state_dir: Some(workdir.join("control-plane")),
            ..Default::default()
        })
        .await
        .context("starting etcd + kube-apiserver (run `make provision` first)")?;
        let admin = cp.admin_client().await?;
        for ns in [SYSTEM_NS, FORBIDDEN_NS] {
            create_namespace(&admin, ns).await?;
        }
        let identity = testkit::ChartIdentity::install(&cp, SYSTEM_NS, "pve-ontap")
            .await
            .context("chart RBAC")?;
        let kubeconfig = identity.kubeconfig(&cp).await?;
        std::fs::write(&launch.kubeconfig, kubeconfig)
            .context("writing the controller kubeconfig")?;

        let secrets: Api<Secret> = Api::namespaced(admin.clone(), SYSTEM_NS);
        create_secret(&secrets, "pve-credentials", json!({ "token": PVE_TOKEN })).await?;
        create_secret(
            &secrets,
            "ontap-credentials",
            json!({ "username": "admin", "password": "netapp123" }),
        )
        .await?;

        let mut worlds = Vec::new();
        for spec in specs {
            worlds.push(start_world(&admin, &secrets, spec, workdir).await?);
        }
        let mut env = Env {
            cp,
            admin,
            worlds,
            launch,
            controller: None,
        };
        env.start_controller().await?;
        env.wait_backends_ready(Duration::from_secs(60)).await?;
        Ok(env)
    }

    pub fn world(&self, name: &str) -> &WorldEnv {
        self.worlds
            .iter()
            .find(|w| w.spec.name == name)
            .expect("world configured")
    }

    pub fn controller(&self) -> &Controller {
        self.controller.as_ref().expect("controller running")
    }

    pub async fn start_controller(&mut self) -> anyhow::Result<crate::controller::StartTimes> {
        let mut c = Controller::spawn(&self.launch)?;
        let times = c.wait_started(Duration::from_secs(60)).await?;
        self.controller = Some(c);
        Ok(times)
    }

    /// Graceful stop (SIGTERM, then SIGKILL after a grace period); the wait runs off the async workers.
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            let _ = tokio::task::spawn_blocking(move || c.stop()).await;
        }
    }

    async fn wait_backends_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        for w in &self.worlds {
            for (kind, name) in [
                ("ProxmoxCluster", &w.pve_name),
                ("OntapCluster", &w.ontap_name),
            ] {
                let api: Api<DynamicObject> =
                    Api::all_with(self.admin.clone(), &cluster_resource(kind));
                loop {
                    let obj = api.get(name).await?;
                    let ready = obj.data["status"]["conditions"]
                        .as_array()
                        .is_some_and(|c| {
                            c.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        });
                    if ready {
                        break;
                    }
                    if started.elapsed() > timeout {
                        bail!(
                            "{kind} {name} not Ready after {timeout:?}: {}",
                            obj.data["status"]
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(())
    }

    pub async fn shutdown(mut self) {
        self.stop_controller().await;
        for w in self.worlds.drain(..) {
            w.sim.shutdown().await;
        }
        self.cp.shutdown();
    }
}

fn cluster_resource(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("pveontap.io", "v1alpha1", kind),
        &plural,
    )
}

async fn create_namespace(admin: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(admin.clone());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } }))?;
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

async fn create_secret(api: &Api<Secret>, name: &str, data: Value) -> anyhow::Result<()> {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name }, "stringData": data,
    }))?;
    api.create(&PostParams::default(), &secret)
        .await
        .with_context(|| format!("creating Secret {name}"))?;
    Ok(())
}

async fn start_world(
    admin: &Client,
    secrets: &Api<Secret>,
    spec: WorldSpec,
    workdir: &Path,
) -> anyhow::Result<WorldEnv> {
    let scenario = spec.scenario().context("building the scenario")?;
    let mut opts = SimOptions::ephemeral(workdir.join(format!("sim-{}-tls", spec.name)));
    opts.scenario = ScenarioSource::Value(Box::new(scenario));
    let sim = pve_ontap_sim::start(opts)
        .await
        .with_context(|| format!("starting the {} simulator", spec.name))?;
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes())?;
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()?;

    let namespace = format!("bench-{}", spec.name);
    create_namespace(admin, &namespace).await?;
    let ca_secret = format!("{}-sim-ca", spec.name);
    create_secret(secrets, &ca_secret, json!({ "ca.crt": sim.ca_pem() })).await?;
    let pve_name = format!("{}-pve", spec.name);
    let ontap_name = format!("{}-ontap", spec.name);
    let ca_ref = json!({ "name": ca_secret, "namespace": SYSTEM_NS, "key": "ca.crt" });
    let backends = [
        (
            "ProxmoxCluster",
            json!({
                "apiVersion": "pveontap.io/v1alpha1", "kind": "ProxmoxCluster", "metadata": { "name": pve_name },
                "spec": {
                    "endpoints": [sim.pve_url()],
                    "credentialsSecretRef": { "name": "pve-credentials", "namespace": SYSTEM_NS },
                    "caBundleSecretRef": ca_ref, "allowedNamespaces": [namespace],
                }
            }),
        ),
        (
            "OntapCluster",
            json!({
                "apiVersion": "pveontap.io/v1alpha1", "kind": "OntapCluster", "metadata": { "name": ontap_name },
                "spec": {
                    "endpoint": sim.ontap_url(),
                    "credentialsSecretRef": { "name": "ontap-credentials", "namespace": SYSTEM_NS },
                    "caBundleSecretRef": ca_ref, "allowedNamespaces": [namespace],
                }
            }),
        ),
    ];
    for (kind, value) in backends {
        let api: Api<DynamicObject> = Api::all_with(admin.clone(), &cluster_resource(kind));
        let obj: DynamicObject = serde_json::from_value(value)?;
        api.create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating {kind}"))?;
    }
    let objects = Objects::new(admin.clone(), &namespace);
    Ok(WorldEnv {
        spec,
        sim,
        http,
        namespace,
        pve_name,
        ontap_name,
        objects,
    })
}
