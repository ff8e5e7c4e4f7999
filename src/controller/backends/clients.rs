//! Backend clients: what a client is built from (endpoints, credentials, CA), the factory that builds them, and
//! the per-backend client cache, rebuilt when the backend object or its Secrets change.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Resource, ResourceExt};

use super::client_cache::ClientCache;
use super::secrets::{read_ca, read_secret, secret_error, secret_value};
use super::watch::BackendWatch;
use crate::api::common::{secret_keys, SecretKeyRef, SecretRef};
use crate::api::{OntapCluster, ProxmoxCluster};
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveClient};
use crate::ontap::OntapConfig;
use crate::proxmox::{Credentials, ProxmoxConfig};
use crate::request_observer::RequestObserver;

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

/// Builds clients: [`HttpClientFactory`] the typed HTTPS clients behind the ports.
pub trait ClientFactory: Send + Sync {
    fn proxmox(&self, name: &str, c: PveConnect) -> Result<PveClient, Error>;
    fn ontap(&self, name: &str, c: OntapConnect) -> Result<OntapClient, Error>;
}

pub struct Backends {
    /// The Kubernetes client: backend objects and their Secrets are read with it.
    pub(super) client: kube::Client,
    pub(super) factory: Arc<dyn ClientFactory>,
    pub(super) pve: ClientCache<dyn crate::controller::ports::Pve>,
    pub(super) ontap: ClientCache<dyn crate::controller::ports::Ontap>,
    /// The backend objects, from a watch cache.
    pub watch: BackendWatch,
}

impl Backends {
    pub fn new(client: kube::Client, factory: Arc<dyn ClientFactory>) -> Self {
        Self {
            client,
            factory,
            pve: ClientCache::default(),
            ontap: ClientCache::default(),
            watch: BackendWatch::default(),
        }
    }
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
        b: &Backends,
        cache: &ClientCache<T>,
        max_age: Duration,
        build: impl FnOnce(&Secret, Option<String>) -> Result<Arc<T>, Error>,
    ) -> Result<Arc<T>, Error> {
        if let Some(client) = cache.recent(&self.name, &self.version, max_age) {
            return Ok(client);
        }
        let creds = self.credentials;
        let secret = read_secret(b, &creds.namespace, &creds.name).await?;
        let (ca_pem, ca_version) = read_ca(b, self.ca_bundle).await?;
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
    b: &Backends,
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
        b.factory.proxmox(&source.name, connect)
    };
    source.client(b, &b.pve, max_age, build).await
}

/// Client of an OntapCluster, built from its Secrets (cached like [`proxmox_client`]).
pub async fn ontap_client(
    b: &Backends,
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
        b.factory.ontap(&source.name, connect)
    };
    source.client(b, &b.ontap, max_age, build).await
}

/// Builds the real HTTPS clients, each reporting its requests to `observer` (the metrics).
#[derive(Default)]
pub struct HttpClientFactory {
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientFactory for HttpClientFactory {
    fn proxmox(&self, _name: &str, c: PveConnect) -> Result<PveClient, Error> {
        let credentials = match c.credentials {
            PveCredentials::Token(t) => Credentials::from_token(&t)?,
            PveCredentials::UserPassword { username, password } => {
                Credentials::Password { username, password }
            }
        };
        let mut config = ProxmoxConfig::new(c.endpoints, credentials);
        config.ca_bundle_pem = c.ca_pem.map(String::into_bytes);
        config.insecure_skip_tls_verify = c.insecure;
        config.observer = self.observer.clone();
        let client = crate::proxmox::ProxmoxClient::new(config)?;
        Ok(Arc::new(crate::controller::ports::ProxmoxAdapter {
            api: Arc::new(client),
        }))
    }

    fn ontap(&self, _name: &str, c: OntapConnect) -> Result<OntapClient, Error> {
        let mut config = OntapConfig::new(c.endpoint, c.username, c.password);
        config.ca_bundle_pem = c.ca_pem.map(String::into_bytes);
        config.insecure_skip_tls_verify = c.insecure;
        config.observer = self.observer.clone();
        let client = crate::ontap::OntapClient::new(config)?;
        Ok(Arc::new(crate::controller::ports::OntapAdapter {
            api: Arc::new(client),
        }))
    }
}
