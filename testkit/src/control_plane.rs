//! etcd + kube-apiserver with RBAC, on free loopback ports, in a private directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DynamicObject, ObjectMeta, PostParams};
use kube::Client;

use crate::error::{Error, Result};
use crate::kubeconfig::{self, Credentials};
use crate::manifests;
use crate::paths;
use crate::pki::{Pki, ADMIN_USER};
use crate::process::{self, Component};

/// How to start a control plane. `Default` suits tests.
#[derive(Debug, Clone)]
pub struct Options {
    /// CRDs to install after startup; `None` means the repository's `crds/`.
    pub crd_dir: Option<PathBuf>,
    /// Keep state and logs in this directory (emptied first, kept after shutdown) instead of a temporary one.
    pub state_dir: Option<PathBuf>,
    /// Bound on reaching `/readyz` and on each CRD becoming Established.
    pub startup_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            crd_dir: None,
            state_dir: None,
            startup_timeout: Duration::from_secs(120),
        }
    }
}

enum StateDir {
    /// Removed on shutdown; `None` once removed.
    Temporary(Option<tempfile::TempDir>),
    Kept,
}

struct Running {
    // Field order is shutdown order: the apiserver goes before the etcd it writes to.
    apiserver: Component,
    etcd: Component,
}

/// A running etcd + kube-apiserver. Stopped and cleaned up on drop or [`ControlPlane::shutdown`].
pub struct ControlPlane {
    running: Mutex<Option<Running>>,
    dir: Mutex<StateDir>,
    dir_path: PathBuf,
    server: String,
    ca_cert_pem: String,
    admin_kubeconfig: String,
    crds: Vec<String>,
}

const STARTUP_ATTEMPTS: usize = 3;
/// Every control plane directory is `<tmp>/pve-ontap-testkit/cp-<pid>-*`, so a later run can sweep the
/// directories of test binaries that were killed before they could clean up.
const TEMP_ROOT: &str = "pve-ontap-testkit";

impl ControlPlane {
    pub async fn start() -> Result<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Result<Self> {
        let etcd_bin = paths::require_binary("etcd")?;
        let apiserver_bin = paths::require_binary("kube-apiserver")?;
        let started = Instant::now();

        let (dir, dir_path) = match &options.state_dir {
            Some(path) => {
                if path.exists() {
                    std::fs::remove_dir_all(path)
                        .map_err(Error::io(format!("clearing {}", path.display())))?;
                }
                std::fs::create_dir_all(path)
                    .map_err(Error::io(format!("creating {}", path.display())))?;
                (StateDir::Kept, path.clone())
            }
            None => {
                let temp = temp_dir()?;
                let path = temp.path().to_path_buf();
                (StateDir::Temporary(Some(temp)), path)
            }
        };
        let pki = Pki::generate(&dir_path.join("pki"))?;

        let mut attempt = 0;
        let (running, server, admin_kubeconfig) = loop {
            attempt += 1;
            match launch(
                &etcd_bin,
                &apiserver_bin,
                &dir_path,
                &pki,
                options.startup_timeout,
            )
            .await
            {
                Ok(ok) => break ok,
                // Most likely another process took one of our "free" ports between probing and binding.
                Err(Error::ComponentExited { .. }) if attempt < STARTUP_ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "control plane component exited during startup; retrying on new ports"
                    );
                }
                Err(e) => return Err(e),
            }
        };

        let mut control_plane = ControlPlane {
            running: Mutex::new(Some(running)),
            dir: Mutex::new(dir),
            dir_path,
            server,
            ca_cert_pem: pki.ca_cert_pem.clone(),
            admin_kubeconfig,
            crds: Vec::new(),
        };
        let crd_dir = options.crd_dir.clone().unwrap_or_else(paths::crd_dir);
        let client = control_plane.admin_client().await?;
        control_plane.crds =
            manifests::install_crds(&client, &crd_dir, options.startup_timeout).await?;
        tracing::info!(
            server = %control_plane.server,
            crds = control_plane.crds.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "control plane ready"
        );
        Ok(control_plane)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// Directory holding certificates, etcd data and the `etcd.log` / `kube-apiserver.log` files.
    pub fn state_dir(&self) -> &Path {
        &self.dir_path
    }

    /// Names of the CRDs installed at startup.
    pub fn installed_crds(&self) -> &[String] {
        &self.crds
    }

    /// Kubeconfig (YAML) for the admin identity (`system:masters`).
    pub fn admin_kubeconfig(&self) -> &str {
        &self.admin_kubeconfig
    }

    /// `(etcd, kube-apiserver)` process ids while running.
    pub fn pids(&self) -> Option<(u32, u32)> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let running = running.as_ref()?;
        Some((running.etcd.pid()?, running.apiserver.pid()?))
    }

    /// A fresh client with full rights. Clients are created per call because each `#[tokio::test]` has its
    /// own runtime and a client's connection pool dies with the runtime that created it.
    pub async fn admin_client(&self) -> Result<Client> {
        kubeconfig::client_from(&self.admin_kubeconfig).await
    }

    /// Kubeconfig (YAML) for a ServiceAccount, holding a token from the TokenRequest API, so requests are
    /// authorized exactly as they would be for a pod running under that ServiceAccount.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<String> {
        let admin = self.admin_client().await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(admin, namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(24 * 3600),
                ..Default::default()
            },
            ..Default::default()
        };
        let issued = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await?;
        let token = issued.status.map(|s| s.token).unwrap_or_default();
        if token.is_empty() {
            return Err(Error::Manifest {
                origin: format!("serviceaccount {namespace}/{name}"),
                message: "TokenRequest returned no token".into(),
            });
        }
        let user = format!("system:serviceaccount:{namespace}:{name}");
        Ok(kubeconfig::render(
            &self.server,
            &self.ca_cert_pem,
            &user,
            Credentials::Token(&token),
            namespace,
        ))
    }

    /// A client authenticated as ServiceAccount `namespace/name` (which must exist).
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Result<Client> {
        kubeconfig::client_from(&self.service_account_kubeconfig(namespace, name).await?).await
    }

    /// Creates a namespace with a unique name starting with `prefix` and returns the name. Tests sharing one
    /// control plane stay apart by using one namespace each.
    pub async fn create_namespace(&self, prefix: &str) -> Result<String> {
        let namespaces: Api<Namespace> = Api::all(self.admin_client().await?);
        let prefix = format!("{}-", prefix.trim_end_matches('-'));
        let namespace = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(prefix),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Server-side applies a YAML text as admin.
    pub async fn apply_yaml(
        &self,
        default_namespace: &str,
        origin: &str,
        text: &str,
    ) -> Result<Vec<DynamicObject>> {
        manifests::apply_yaml(&self.admin_client().await?, default_namespace, origin, text).await
    }

    /// Stops kube-apiserver then etcd and removes the temporary directory. Idempotent.
    pub fn shutdown(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(running);
        if let StateDir::Temporary(dir) = &mut *self.dir.lock().unwrap_or_else(|p| p.into_inner()) {
            if let Some(dir) = dir.take() {
                let path = dir.path().to_path_buf();
                if let Err(e) = dir.close() {
                    tracing::warn!(dir = %path.display(), error = %e, "could not remove control plane directory");
                }
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn launch(
    etcd_bin: &Path,
    apiserver_bin: &Path,
    dir: &Path,
    pki: &Pki,
    timeout: Duration,
) -> Result<(Running, String, String)> {
    let etcd_port = process::free_port()?;
    let peer_port = process::free_port()?;
    let api_port = process::free_port()?;
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let data_dir = dir.join("etcd");
    let _ = std::fs::remove_dir_all(&data_dir);
    let etcd_args = [
        "--name=testkit".to_string(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={etcd_url}"),
        format!("--advertise-client-urls={etcd_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=testkit={peer_url}"),
        // Test data is disposable; skipping fsync makes every write an order of magnitude cheaper.
        "--unsafe-no-fsync".to_string(),
        "--log-level=warn".to_string(),
    ];
    let mut etcd = Component::spawn("etcd", etcd_bin, &etcd_args, dir.join("etcd.log"))?;

    let server = format!("https://127.0.0.1:{api_port}");
    let path = |p: &Path| p.display().to_string();
    let apiserver_args = [
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".to_string(),
        "--advertise-address=127.0.0.1".to_string(),
        format!("--secure-port={api_port}"),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", path(&pki.serving_cert)),
        format!("--tls-private-key-file={}", path(&pki.serving_key)),
        format!("--client-ca-file={}", path(&pki.ca_cert)),
        format!(
            "--service-account-key-file={}",
            path(&pki.service_account_public_key)
        ),
        format!(
            "--service-account-signing-key-file={}",
            path(&pki.service_account_key)
        ),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
        "--service-cluster-ip-range=10.0.0.0/24".to_string(),
        "--authorization-mode=RBAC".to_string(),
        // No kube-controller-manager or nodes exist, so nothing would consume the endpoints it maintains.
        "--endpoint-reconciler-type=none".to_string(),
        "--profiling=false".to_string(),
    ];
    let apiserver = match Component::spawn(
        "kube-apiserver",
        apiserver_bin,
        &apiserver_args,
        dir.join("kube-apiserver.log"),
    ) {
        Ok(c) => c,
        Err(e) => {
            etcd.stop();
            return Err(e);
        }
    };
    let mut running = Running { apiserver, etcd };
    let admin_kubeconfig = kubeconfig::render(
        &server,
        &pki.ca_cert_pem,
        ADMIN_USER,
        Credentials::ClientCert {
            cert_pem: &pki.admin_cert_pem,
            key_pem: &pki.admin_key_pem,
        },
        "default",
    );
    let client = kubeconfig::client_from(&admin_kubeconfig).await?;
    wait_ready(&client, &mut running, timeout).await?;
    Ok((running, server, admin_kubeconfig))
}

async fn wait_ready(client: &Client, running: &mut Running, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        running.etcd.check_running()?;
        running.apiserver.check_running()?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("static request is valid");
        let last = match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: "kube-apiserver /readyz".into(),
                seconds: timeout.as_secs(),
                details: format!(
                    "; last answer: {last}\nkube-apiserver log:\n{}",
                    process::log_tail(&running.apiserver.log, 30)
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn temp_dir() -> Result<tempfile::TempDir> {
    let root = std::env::temp_dir().join(TEMP_ROOT);
    std::fs::create_dir_all(&root).map_err(Error::io(format!("creating {}", root.display())))?;
    sweep_stale(&root);
    tempfile::Builder::new()
        .prefix(&format!("cp-{}-", std::process::id()))
        .tempdir_in(&root)
        .map_err(Error::io(format!(
            "creating a directory in {}",
            root.display()
        )))
}

/// Removes directories left by test binaries that died without cleaning up (SIGKILL, abort).
fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cp-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !process::pid_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
