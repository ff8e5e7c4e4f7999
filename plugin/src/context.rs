//! The user's Kubernetes connection (kubeconfig, context, namespace), the backends a command defaults to, and the
//! errors that end the program with a message and an exit code.

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource, ResourceExt};
use pve_ontap_controller::api::{OntapCluster, ProxmoxCluster};
use serde::de::DeserializeOwned;

use crate::cli::Global;

/// Exit codes: 1 the operation failed or was refused, 3 `--wait` timed out (clap uses 2 for usage errors).
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_TIMEOUT: i32 = 3;

/// An error that ends the program with `code`; its text is what the user reads.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn fail(message: impl Into<String>) -> anyhow::Error {
    Failure {
        code: EXIT_FAILED,
        message: message.into(),
    }
    .into()
}

/// An apiserver error in words: what was attempted, what the server said, and what to do for the common cases.
pub fn api_error(what: &str, err: kube::Error) -> anyhow::Error {
    match &err {
        kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists" => fail(format!(
            "{what}: it already exists; choose another name (--object-name, or --name for snapshots)"
        )),
        kube::Error::Api(s) if s.code == 403 => fail(format!(
            "{what}: forbidden: {}; ask your cluster administrator for access to pveontap.io objects",
            s.message
        )),
        kube::Error::Api(s) if s.code == 404 && s.message.contains("the server could not find") => fail(format!(
            "{what}: the pveontap.io CRDs are not installed in this cluster ({})",
            s.message
        )),
        kube::Error::Api(s) => fail(format!("{what}: {}", s.message)),
        _ => fail(format!("{what}: {err}")),
    }
}

/// One run's connection: client, namespace and the global flags.
pub struct Ctx {
    pub client: Client,
    pub namespace: String,
    /// `-n` was given: manifests printed with `-o` then carry the namespace.
    pub explicit_namespace: bool,
    pub global: Global,
}

impl Ctx {
    pub async fn connect(global: Global) -> anyhow::Result<Ctx> {
        let options = KubeConfigOptions {
            context: global.context.clone(),
            ..Default::default()
        };
        let config = match &global.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| fail(format!("reading kubeconfig {}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| e.to_string())
            }
            None if global.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| e.to_string()),
            None => kube::Config::infer().await.map_err(|e| e.to_string()),
        }
        .map_err(|e| fail(format!("loading the Kubernetes configuration: {e}")))?;
        let explicit_namespace = global.namespace.is_some();
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)
            .map_err(|e| fail(format!("creating the Kubernetes client: {e}")))?;
        Ok(Ctx {
            client,
            namespace,
            explicit_namespace,
            global,
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The namespace printed manifests carry (only the one asked for with `-n`).
    pub fn manifest_namespace(&self) -> Option<&str> {
        self.explicit_namespace.then_some(self.namespace.as_str())
    }

    /// `--proxmox`, else the only ProxmoxCluster that admits the namespace.
    pub async fn proxmox(&self) -> anyhow::Result<String> {
        if let Some(name) = &self.global.proxmox {
            return Ok(name.clone());
        }
        let all = self
            .list_backends::<ProxmoxCluster>("ProxmoxCluster", "--proxmox")
            .await?;
        let admitting = all
            .iter()
            .filter(|b| b.spec.allows_namespace(&self.namespace))
            .map(|b| b.name_any());
        self.only_one("ProxmoxCluster", "--proxmox", admitting.collect())
    }

    /// `--ontap`, else the only OntapCluster that admits the namespace.
    pub async fn ontap(&self) -> anyhow::Result<String> {
        if let Some(name) = &self.global.ontap {
            return Ok(name.clone());
        }
        let all = self
            .list_backends::<OntapCluster>("OntapCluster", "--ontap")
            .await?;
        let admitting = all
            .iter()
            .filter(|b| b.spec.allows_namespace(&self.namespace))
            .map(|b| b.name_any());
        self.only_one("OntapCluster", "--ontap", admitting.collect())
    }

    /// Every backend of a kind; a user who may not list them is told to name one.
    pub async fn list_backends<K>(&self, kind: &str, flag: &str) -> anyhow::Result<Vec<K>>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(s)) if s.code == 403 => Err(fail(format!(
                "you may not list {kind}s, so none can be chosen for you: pass {flag} NAME (your cluster \
                 administrator knows which one admits namespace {})",
                self.namespace
            ))),
            Err(e) => Err(api_error(&format!("listing {kind}s"), e)),
        }
    }

    fn only_one(&self, kind: &str, flag: &str, mut names: Vec<String>) -> anyhow::Result<String> {
        names.sort();
        match names.len() {
            1 => Ok(names.remove(0)),
            0 => Err(fail(format!(
                "no {kind} admits namespace {} (spec.allowedNamespaces); pass {flag} NAME or ask your cluster \
                 administrator to admit the namespace",
                self.namespace
            ))),
            n => Err(fail(format!(
                "{n} {kind}s admit namespace {}: {}; choose one with {flag} NAME",
                self.namespace,
                names.join(", ")
            ))),
        }
    }
}
