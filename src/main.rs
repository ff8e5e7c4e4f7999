//! The controller binary: flags, logging, metrics/health endpoints, the controllers, graceful shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use pve_ontap_controller::config::Config;
use pve_ontap_controller::controller::context::{Concurrency, Settings};
use pve_ontap_controller::controller::resolve::HostResolver;
use pve_ontap_controller::controller::runtime;
use pve_ontap_controller::leader::{self, LeaderElector};
use pve_ontap_controller::metrics::Metrics;
use pve_ontap_controller::telemetry;

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

async fn metrics_handler(State(s): State<HttpState>) -> impl IntoResponse {
    match s.metrics.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(s): State<HttpState>) -> StatusCode {
    if s.ready.load(Ordering::Relaxed) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn kube_client(config: &Config) -> anyhow::Result<Client> {
    let kc = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(kc)?)
}

/// The cluster id of ownership markers: the flag, else the UID of `kube-system` (stable for a cluster's life).
async fn cluster_id(config: &Config, client: &Client) -> anyhow::Result<String> {
    if let Some(id) = &config.cluster_id {
        return Ok(id.clone());
    }
    match Api::<Namespace>::all(client.clone())
        .get("kube-system")
        .await
    {
        Ok(ns) => ns.metadata.uid.context("kube-system has no uid"),
        Err(e) => {
            // Ownership is still proven by the object UID in every marker; the cluster id only separates
            // clusters further, so a missing permission is not fatal.
            warn!(error = %e, "cannot read the kube-system namespace; using cluster id {FALLBACK_CLUSTER_ID:?} (set --cluster-id)");
            Ok(FALLBACK_CLUSTER_ID.to_owned())
        }
    }
}

const FALLBACK_CLUSTER_ID: &str = "default";

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(&config.log_level, config.log_format)?;
    // rustls needs one process-wide crypto provider when several TLS stacks are linked.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let client = kube_client(&config).await?;
    let cluster_id = cluster_id(&config, &client).await?;
    let mut hosts = HostResolver::system();
    if let Some(path) = &config.nfs_hosts_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the NFS hosts file {}", path.display()))?;
        hosts = hosts
            .with_hosts_text(&text)
            .with_context(|| format!("in the NFS hosts file {}", path.display()))?;
    }
    let settings = Settings {
        hosts,
        namespaces: config.watch_namespaces.clone(),
        concurrency: Concurrency {
            vm_disk_clone: config.vmdiskclone_workers,
            volume_snapshot: config.volumesnapshot_workers,
            flex_clone_mount: config.flexclonemount_workers,
            backends: config.backend_workers,
        },
        resync: config.resync_period(),
        discovery_interval: config.discovery_interval(),
        fsfreeze_deadline: Duration::from_secs(config.fsfreeze_deadline_seconds),
        shutdown_timeout: Duration::from_secs(config.shutdown_timeout_seconds),
        instance: config.instance.clone(),
        ..Settings::new(cluster_id)
    };

    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { StatusCode::OK }))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("binding {}", config.metrics_addr))?;
    info!(addr = %config.metrics_addr, "serving /metrics, /healthz, /readyz");

    let shutdown = CancellationToken::new();
    let http_shutdown = shutdown.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
    });
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown requested");
        signal_token.cancel();
    });

    runtime::check_crds_served(&client, &settings.namespaces).await?;
    // A standby replica is healthy and counts as Ready (PodDisruptionBudget); only the leader reconciles.
    ready.store(true, Ordering::Relaxed);

    let leadership = if config.leader_elect {
        let identity = leader::unique_identity(config.instance.as_deref());
        let lease = config
            .leader_election
            .settings(identity, client.default_namespace())?;
        info!(lease = %format!("{}/{}", lease.namespace, lease.name), "waiting for leadership");
        match LeaderElector::new(client.clone(), lease)
            .acquire(&shutdown)
            .await
        {
            Some(leadership) => Some(leadership),
            None => {
                // Shutdown was requested while this replica was a follower.
                shutdown.cancel();
                http.await
                    .context("http server task")?
                    .context("http server")?;
                return Ok(());
            }
        }
    } else {
        None
    };
    // Work stops when leadership is lost as well as on a signal, so two replicas never reconcile at once.
    let run_token = shutdown.child_token();
    if let Some(leadership) = &leadership {
        let (lost, stop) = (leadership.lost_token(), run_token.clone());
        tokio::spawn(async move {
            lost.cancelled().await;
            stop.cancel();
        });
        let (metrics, is_leader) = (metrics.clone(), leadership.watch());
        tokio::spawn(async move { metrics.track_leadership(is_leader).await });
    } else {
        // Without election the single replica reconciles, so it is the leader the no-leader alert looks for.
        metrics.set_leader(true);
    }

    let result = runtime::run(client, settings, metrics.clone(), run_token).await;
    metrics.set_leader(false);
    ready.store(false, Ordering::Relaxed);
    shutdown.cancel();
    if let Err(e) = &result {
        error!(error = %e, "controller failed");
    }
    let lost = match leadership {
        Some(leadership) if leadership.is_lost() => true,
        Some(leadership) => {
            if let Err(e) = leadership.release().await {
                warn!(error = %e, "releasing the Lease failed; followers take over when it expires");
            }
            false
        }
        None => false,
    };
    http.await
        .context("http server task")?
        .context("http server")?;
    result?;
    if lost {
        // Exit non-zero so the pod restarts as a follower instead of running headless.
        anyhow::bail!("leadership lost; exiting so that this replica restarts as a follower");
    }
    Ok(())
}
