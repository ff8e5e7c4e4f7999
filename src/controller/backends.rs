//! ProxmoxCluster and OntapCluster: credentials from Secrets, one cached client per backend, the namespace
//! allow-list, and the reconcilers that probe each backend and report Ready.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument};

use super::backend_watch::{BackendWatch, WatchedBackend};
use super::client_cache::ClientCache;
use super::context::Context;
use super::error::{Error, RetryClass};
use super::ports::{OntapClient, PveClient};
use super::status::apply_status;
use crate::api::common::{secret_keys, SecretKeyRef, SecretRef};
use crate::api::conditions::{self, INSECURE_TLS, READY};
use crate::api::ontap_cluster::OntapSvmStatus;
use crate::api::proxmox_cluster::ProxmoxNodeStatus;
use crate::api::{OntapCluster, OntapClusterStatus, ProxmoxCluster, ProxmoxClusterStatus};

/// Proxmox credentials; `Debug` never shows secrets.
#[derive(Clone)]
pub enum PveCredentials {
    /// `USER@REALM!ID=SECRET`
    Token(String),
    UserPassword {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for PveCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PveCredentials::Token(t) => {
                let id = t.split_once('=').map(|(id, _)| id).unwrap_or("?");
                write!(f, "Token({id}=<redacted>)")
            }
            PveCredentials::UserPassword { username, .. } => {
                write!(f, "UserPassword({username}, <redacted>)")
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct PveConnect {
    pub endpoints: Vec<String>,
    pub credentials: PveCredentials,
    pub ca_pem: Option<String>,
    pub insecure: bool,
}

#[derive(Clone)]
pub struct OntapConnect {
    pub endpoint: String,
    pub username: String,
    pub password: String,
    pub ca_pem: Option<String>,
    pub insecure: bool,
}

impl std::fmt::Debug for OntapConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OntapConnect")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Builds clients; the default builds the typed HTTPS clients (see `adapters`).
pub trait ClientFactory: Send + Sync {
    fn proxmox(&self, name: &str, c: PveConnect) -> Result<PveClient, Error>;
    fn ontap(&self, name: &str, c: OntapConnect) -> Result<OntapClient, Error>;
}

pub struct BackendCache {
    factory: Arc<dyn ClientFactory>,
    pve: ClientCache<dyn super::ports::Pve>,
    ontap: ClientCache<dyn super::ports::Ontap>,
    watch: BackendWatch,
}

impl Default for BackendCache {
    fn default() -> Self {
        Self::with_factory(Arc::new(super::adapters::HttpClientFactory::default()))
    }
}

impl BackendCache {
    pub fn with_factory(factory: Arc<dyn ClientFactory>) -> Self {
        Self {
            factory,
            pve: ClientCache::default(),
            ontap: ClientCache::default(),
            watch: BackendWatch::default(),
        }
    }
}

async fn read_secret(ctx: &Context, namespace: &str, name: &str) -> Result<Secret, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let reason = match api.get_opt(name).await {
        Ok(Some(s)) => return Ok(s),
        Ok(None) => "not found".to_owned(),
        // The chart grants `get` only in rbac.secretNamespaces: say so instead of a bare 403.
        Err(kube::Error::Api(e)) if e.code == 403 => {
            "the controller may not read it: list its namespace in the chart's rbac.secretNamespaces".to_owned()
        }
        Err(e) => return Err(e.into()),
    };
    Err(Error::Secret {
        namespace: namespace.into(),
        name: name.into(),
        reason,
    })
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone())
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn secret_error(r: &SecretRef, reason: impl Into<String>) -> Error {
    Error::Secret {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        reason: reason.into(),
    }
}

/// Reads a CA bundle; returns it and the Secret's resourceVersion.
async fn read_ca(
    ctx: &Context,
    r: &Option<SecretKeyRef>,
) -> Result<(Option<String>, String), Error> {
    let Some(r) = r else {
        return Ok((None, String::new()));
    };
    let secret = read_secret(ctx, &r.namespace, &r.name).await?;
    let pem = secret_value(&secret, &r.key).ok_or_else(|| Error::Secret {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        reason: format!("key {:?} is missing or empty", r.key),
    })?;
    Ok((Some(pem), secret.resource_version().unwrap_or_default()))
}

/// How long a backend client is used without re-reading its Secrets: a rotated credential or CA bundle is picked
/// up within this window by namespaced objects, and at once by the backend's own probe.
pub const SECRET_RECHECK: Duration = Duration::from_secs(30);

/// A backend object as far as its client depends on it.
struct ClientSource<'a> {
    name: String,
    version: String,
    credentials: &'a SecretRef,
    ca_bundle: &'a Option<SecretKeyRef>,
}

impl<'a> ClientSource<'a> {
    fn of<K: Resource>(
        obj: &K,
        credentials: &'a SecretRef,
        ca_bundle: &'a Option<SecretKeyRef>,
    ) -> Self {
        Self {
            name: obj.meta().name.clone().unwrap_or_default(),
            version: obj.meta().resource_version.clone().unwrap_or_default(),
            credentials,
            ca_bundle,
        }
    }

    /// The cached client, or one built from the Secrets when they were not read within `max_age` and changed
    /// since.
    async fn client<T: ?Sized>(
        &self,
        ctx: &Context,
        cache: &ClientCache<T>,
        max_age: Duration,
        build: impl FnOnce(&Secret, Option<String>) -> Result<Arc<T>, Error>,
    ) -> Result<Arc<T>, Error> {
        if let Some(client) = cache.recent(&self.name, &self.version, max_age) {
            return Ok(client);
        }
        let creds = self.credentials;
        let secret = read_secret(ctx, &creds.namespace, &creds.name).await?;
        let (ca_pem, ca_version) = read_ca(ctx, self.ca_bundle).await?;
        let version = format!(
            "{}/{}/{ca_version}",
            self.version,
            secret.resource_version().unwrap_or_default()
        );
        cache.get_or_build(&self.name, &self.version, &version, || {
            build(&secret, ca_pem)
        })
    }
}

/// Client of a ProxmoxCluster, built from its Secrets (cached while nothing changed; Secrets re-read after
/// `max_age`).
pub async fn proxmox_client(
    ctx: &Context,
    pc: &ProxmoxCluster,
    max_age: Duration,
) -> Result<PveClient, Error> {
    let spec = &pc.spec;
    let creds_ref = &spec.credentials_secret_ref;
    let source = ClientSource::of(pc, creds_ref, &spec.ca_bundle_secret_ref);
    let build = |secret: &Secret, ca_pem| {
        let credentials = if let Some(token) = secret_value(secret, secret_keys::TOKEN) {
            PveCredentials::Token(token)
        } else {
            match (
                secret_value(secret, secret_keys::USERNAME),
                secret_value(secret, secret_keys::PASSWORD),
            ) {
                (Some(username), Some(password)) => {
                    PveCredentials::UserPassword { username, password }
                }
                _ => {
                    return Err(secret_error(
                        creds_ref,
                        "needs key `token`, or `username` and `password`",
                    ))
                }
            }
        };
        let connect = PveConnect {
            endpoints: spec.endpoints.clone(),
            credentials,
            ca_pem,
            insecure: spec.insecure_skip_tls_verify,
        };
        ctx.backends.factory.proxmox(&source.name, connect)
    };
    source.client(ctx, &ctx.backends.pve, max_age, build).await
}

/// Client of an OntapCluster, built from its Secrets (cached like [`proxmox_client`]).
pub async fn ontap_client(
    ctx: &Context,
    oc: &OntapCluster,
    max_age: Duration,
) -> Result<OntapClient, Error> {
    let spec = &oc.spec;
    let creds_ref = &spec.credentials_secret_ref;
    let source = ClientSource::of(oc, creds_ref, &spec.ca_bundle_secret_ref);
    let build = |secret: &Secret, ca_pem| {
        let (Some(username), Some(password)) = (
            secret_value(secret, secret_keys::USERNAME),
            secret_value(secret, secret_keys::PASSWORD),
        ) else {
            return Err(secret_error(
                creds_ref,
                "needs keys `username` and `password`",
            ));
        };
        let connect = OntapConnect {
            endpoint: spec.endpoint.clone(),
            username,
            password,
            ca_pem,
            insecure: spec.insecure_skip_tls_verify,
        };
        ctx.backends.factory.ontap(&source.name, connect)
    };
    source
        .client(ctx, &ctx.backends.ontap, max_age, build)
        .await
}

/// The backend object `name` of kind `K`, if it lets objects in `namespace` use it. The allow-list is checked
/// here, before any client is built, so a forbidden namespace never causes a backend call.
async fn allowed_backend<K: WatchedBackend>(
    ctx: &Context,
    kind: &'static str,
    namespace: &str,
    name: &str,
    allows: impl Fn(&K, &str) -> bool,
) -> Result<K, Error> {
    let backend = ctx
        .backends
        .watch
        .get::<K>(&ctx.client, name)
        .await?
        .ok_or_else(|| Error::BackendNotFound {
            kind,
            name: name.into(),
        })?;
    if !allows(&backend, namespace) {
        return Err(Error::NamespaceForbidden {
            kind,
            name: name.into(),
            namespace: namespace.into(),
        });
    }
    Ok(backend)
}

/// What a tenant's object is told when its backend's client cannot be built: the backend is not ready, and its own
/// status (which only backend owners read) says why. Where its Secrets live is not the tenant's business.
fn behind_backend(e: Error, kind: &'static str, name: &str) -> Error {
    match e {
        Error::Secret { .. } => Error::BackendNotReady {
            kind,
            name: name.into(),
            message: format!(
                "its credentials cannot be used; the {kind}'s status says why (ask its owner)"
            ),
        },
        other => other,
    }
}

/// The ProxmoxCluster `name` for an object in `namespace`, with its client.
pub async fn proxmox_for(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(ProxmoxCluster, PveClient), Error> {
    let pc = allowed_backend(
        ctx,
        "ProxmoxCluster",
        namespace,
        name,
        |pc: &ProxmoxCluster, ns| pc.spec.allows_namespace(ns),
    )
    .await?;
    let client = proxmox_client(ctx, &pc, SECRET_RECHECK)
        .await
        .map_err(|e| behind_backend(e, "ProxmoxCluster", name))?;
    Ok((pc, client))
}

/// The OntapCluster `name` for an object in `namespace`, with its client.
pub async fn ontap_for(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(OntapCluster, OntapClient), Error> {
    let oc = allowed_backend(
        ctx,
        "OntapCluster",
        namespace,
        name,
        |oc: &OntapCluster, ns| oc.spec.allows_namespace(ns),
    )
    .await?;
    let client = ontap_client(ctx, &oc, SECRET_RECHECK)
        .await
        .map_err(|e| behind_backend(e, "OntapCluster", name))?;
    Ok((oc, client))
}

/// Every OntapCluster objects in `namespace` may use, with clients. Clusters that do not allow the namespace are
/// never contacted and never named (a tenant learns nothing of backends outside its scope); one whose client
/// cannot be built (e.g. a missing Secret) is left out with a log line, so one broken backend does not break
/// resolution for the objects that do not use it. The second value counts what was left out that way.
pub async fn ontaps_for(
    ctx: &Context,
    namespace: &str,
) -> Result<(Vec<(OntapCluster, OntapClient)>, Vec<String>), Error> {
    let mut allowed = Vec::new();
    let mut broken = Vec::new();
    for oc in ctx.backends.watch.list::<OntapCluster>(&ctx.client).await? {
        if !oc.spec.allows_namespace(namespace) {
            continue;
        }
        match ontap_client(ctx, &oc, SECRET_RECHECK).await {
            Ok(client) => allowed.push((oc, client)),
            Err(e) => {
                tracing::warn!(ontap_cluster = %oc.name_any(), error = %e, "OntapCluster left out of storage resolution");
                broken.push(oc.name_any());
            }
        }
    }
    Ok((allowed, broken))
}

// ----------------------------------------------------------------------------------------------------------
// Backend reconcilers

#[instrument(skip_all, fields(kind = "ProxmoxCluster", name = %pc.name_any()))]
pub async fn reconcile_proxmox(
    pc: Arc<ProxmoxCluster>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let insecure = pc.spec.insecure_skip_tls_verify;
    let probe = async {
        let client = proxmox_client(&ctx, &pc, Duration::ZERO).await?;
        let version = client.version().await?;
        let nodes = client.nodes().await?;
        Ok::<_, Error>((version, nodes))
    };
    reconcile_backend(
        pc.as_ref(),
        &ctx,
        insecure,
        probe,
        |status, (version, nodes)| {
            let msg = format!("Proxmox VE {version}, {} node(s)", nodes.len());
            status.version = Some(version);
            status.endpoint = pc.spec.endpoints.first().cloned();
            status.nodes = nodes
                .into_iter()
                .map(|(name, status)| ProxmoxNodeStatus { name, status })
                .collect();
            msg
        },
    )
    .await
}

#[instrument(skip_all, fields(kind = "OntapCluster", name = %oc.name_any()))]
pub async fn reconcile_ontap(oc: Arc<OntapCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let insecure = oc.spec.insecure_skip_tls_verify;
    let probe = async {
        let client = ontap_client(&ctx, &oc, Duration::ZERO).await?;
        client.facts().await
    };
    reconcile_backend(oc.as_ref(), &ctx, insecure, probe, |status, facts| {
        let msg = format!(
            "ONTAP {} ({}), {} SVM(s)",
            facts.version,
            facts.name,
            facts.svms.len()
        );
        status.cluster_name = Some(facts.name);
        status.cluster_uuid = Some(facts.uuid);
        status.version = Some(facts.version);
        status.svms = facts
            .svms
            .into_iter()
            .map(|(name, uuid, state)| OntapSvmStatus { name, uuid, state })
            .collect();
        msg
    })
    .await
}

/// The shape both backend reconcilers share: probe the backend, record its facts (or the failure) in the Ready
/// condition and message, warn about disabled TLS verification, and write status only when it changed.
async fn reconcile_backend<K, F>(
    obj: &K,
    ctx: &Context,
    insecure: bool,
    probe: impl std::future::Future<Output = Result<F, Error>>,
    record: impl FnOnce(&mut K::Status, F) -> String,
) -> Result<Action, Error>
where
    K: BackendObject,
{
    let _timer = ctx.metrics.reconcile_started(K::KIND);
    let api: Api<K> = Api::all(ctx.client.clone());
    let generation = obj.meta().generation;
    let before = obj.status_or_default();
    let mut status = before.clone();
    let probe = probe.await;
    let conds = status.conditions_mut();
    insecure_condition(conds, insecure, generation);
    let (result, msg) = match probe {
        Ok(facts) => {
            let msg = record(&mut status, facts);
            let conds = status.conditions_mut();
            set_ready(conds, true, "Connected", &msg, generation);
            ctx.backoff
                .reset(&obj.meta().uid.clone().unwrap_or_default());
            (Ok(Action::requeue(ctx.settings.resync)), msg)
        }
        Err(e) => {
            ctx.metrics.reconcile_failed(K::KIND, e.category());
            let msg = e.to_string();
            set_ready(
                status.conditions_mut(),
                false,
                e.category(),
                &msg,
                generation,
            );
            (Err(e), msg)
        }
    };
    status.set_common(generation, msg);
    write_backend_status(ctx, &api, obj, &before, &status).await?;
    result
}

fn set_ready(
    conds: &mut Vec<Condition>,
    ok: bool,
    reason: &str,
    msg: &str,
    generation: Option<i64>,
) {
    conditions::set_condition(
        conds,
        conditions::new_condition(READY, ok, reason, msg, generation, conditions::now()),
    );
}

fn insecure_condition(conds: &mut Vec<Condition>, insecure: bool, generation: Option<i64>) {
    if insecure {
        conditions::set_condition(
            conds,
            conditions::new_condition(
                INSECURE_TLS,
                true,
                "InsecureSkipTLSVerify",
                "TLS certificate verification is disabled; configure caBundleSecretRef instead",
                generation,
                conditions::now(),
            ),
        );
    } else {
        conditions::remove_condition(conds, INSECURE_TLS);
    }
}

/// ProxmoxCluster and OntapCluster as [`reconcile_backend`] sees them.
trait BackendObject:
    Resource<DynamicType = (), Scope = kube::core::ClusterResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
    const KIND: &'static str;
    type Status: BackendStatus + Clone + Default;
    fn status_or_default(&self) -> Self::Status;
}

impl BackendObject for ProxmoxCluster {
    const KIND: &'static str = "ProxmoxCluster";
    type Status = ProxmoxClusterStatus;
    fn status_or_default(&self) -> Self::Status {
        self.status.clone().unwrap_or_default()
    }
}

impl BackendObject for OntapCluster {
    const KIND: &'static str = "OntapCluster";
    type Status = OntapClusterStatus;
    fn status_or_default(&self) -> Self::Status {
        self.status.clone().unwrap_or_default()
    }
}

trait BackendStatus: PartialEq + serde::Serialize {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn message(&self) -> String;
    fn set_common(&mut self, generation: Option<i64>, message: String);
    fn ready(&self) -> bool {
        conditions::is_true(self.conditions(), READY)
    }
    fn insecure(&self) -> bool {
        conditions::is_true(self.conditions(), INSECURE_TLS)
    }
}

macro_rules! backend_status {
    ($t:ty) => {
        impl BackendStatus for $t {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn message(&self) -> String {
                self.message.clone().unwrap_or_default()
            }
            fn set_common(&mut self, generation: Option<i64>, message: String) {
                self.observed_generation = generation;
                self.message = Some(message);
            }
        }
    };
}
backend_status!(ProxmoxClusterStatus);
backend_status!(OntapClusterStatus);

/// Writes the status only when it changed, with an Event on each change of readiness or TLS mode.
async fn write_backend_status<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    before: &S,
    after: &S,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: BackendStatus,
{
    if before == after {
        return Ok(());
    }
    apply_status(api, &obj.name_any(), after).await?;
    if after.ready() != before.ready() || before.message() != after.message() {
        if after.ready() {
            info!(message = %after.message(), "backend ready");
            ctx.normal(obj, "Connected", after.message()).await;
        } else {
            ctx.warning(obj, "NotReady", after.message()).await;
        }
    }
    if after.insecure() && !before.insecure() {
        ctx.warning(
            obj,
            "InsecureSkipTLSVerify",
            "TLS certificate verification is disabled",
        )
        .await;
    }
    Ok(())
}

/// Backends retry transient failures with backoff and re-probe permanent ones at the resync period.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> kube::runtime::controller::Action {
    match err.retry_class() {
        RetryClass::Transient => Action::requeue(
            ctx.backoff
                .next_delay(&obj.meta().uid.clone().unwrap_or_default()),
        ),
        RetryClass::Permanent => Action::requeue(ctx.settings.resync),
    }
}
