//! The two HTTPS listeners (ONTAP, Proxmox VE), the shared request layer (logging, statistics, faults,
//! persistence) and the library entry point `start`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::faults::FaultOutcome;
use crate::scenario::Scenario;
use crate::world::Sim;

/// Where the scenario comes from.
#[derive(Debug, Clone, Default)]
pub enum ScenarioSource {
    /// The built-in `sim/scenarios/default.yaml`.
    #[default]
    Default,
    /// A YAML or JSON file.
    Path(PathBuf),
    /// An already parsed scenario (tests build these in code).
    Value(Box<Scenario>),
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// ONTAP listener; port 0 picks a free port.
    pub ontap_addr: SocketAddr,
    /// Proxmox VE listener; port 0 picks a free port.
    pub pve_addr: SocketAddr,
    /// Where `ca.crt`, `ca.key`, `server.crt`, `server.key` are written.
    pub tls_dir: PathBuf,
    pub scenario: ScenarioSource,
    /// Persist the world here after each change; loaded at start when it exists.
    pub state_path: Option<PathBuf>,
    /// Overrides `ontap.generate_volumes` of the scenario.
    pub generate_volumes: Option<usize>,
}

impl SimOptions {
    /// Both listeners on free loopback ports, default scenario, no persistence.
    pub fn ephemeral(tls_dir: impl Into<PathBuf>) -> SimOptions {
        SimOptions {
            ontap_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pve_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_dir: tls_dir.into(),
            scenario: ScenarioSource::Default,
            state_path: None,
            generate_volumes: None,
        }
    }
}

/// A simulator serving both APIs. Dropping it stops the listeners.
pub struct RunningSim {
    sim: Arc<Sim>,
    ontap_addr: SocketAddr,
    pve_addr: SocketAddr,
    ca_pem: String,
    ca_path: PathBuf,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    pub fn ontap_url(&self) -> String {
        format!("https://{}", self.ontap_addr)
    }

    pub fn pve_url(&self) -> String {
        format!("https://{}", self.pve_addr)
    }

    pub fn ontap_addr(&self) -> SocketAddr {
        self.ontap_addr
    }

    pub fn pve_addr(&self) -> SocketAddr {
        self.pve_addr
    }

    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_path(&self) -> &std::path::Path {
        &self.ca_path
    }

    pub fn sim(&self) -> Arc<Sim> {
        self.sim.clone()
    }

    /// Stops both listeners, closes open connections and halts background work.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.sim.halt();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.sim.halt();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error(transparent)]
    World(#[from] crate::world::WorldError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Starts the simulator: loads the scenario (or the state file), generates TLS material, binds both listeners.
pub async fn start(opts: SimOptions) -> Result<RunningSim, StartError> {
    let mut scenario = match opts.scenario {
        ScenarioSource::Default => Scenario::default_scenario(),
        ScenarioSource::Path(p) => Scenario::load(&p)?,
        ScenarioSource::Value(s) => *s,
    };
    if let Some(n) = opts.generate_volumes {
        scenario.ontap.generate_volumes = n;
    }
    let sim = Arc::new(Sim::new(scenario, opts.state_path)?);
    let tls = crate::tls::prepare(&opts.tls_dir)?;
    let ontap_acceptor = TlsAcceptor::from(tls.server_config.clone());
    // pveproxy speaks HTTP/1.1 only; clients rely on it (PVE puts its error text in the status line's reason
    // phrase, which HTTP/2 does not have).
    let mut pve_config = (*tls.server_config).clone();
    pve_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let pve_acceptor = TlsAcceptor::from(Arc::new(pve_config));

    let ontap_listener =
        TcpListener::bind(opts.ontap_addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: opts.ontap_addr,
                source,
            })?;
    let pve_listener =
        TcpListener::bind(opts.pve_addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: opts.pve_addr,
                source,
            })?;
    let ontap_addr = ontap_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: opts.ontap_addr,
            source,
        })?;
    let pve_addr = pve_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: opts.pve_addr,
            source,
        })?;

    let cancel = CancellationToken::new();
    let ontap_router = api_router(&sim, "ontap", crate::ontap::router(sim.clone()));
    let pve_router = api_router(&sim, "pve", crate::pve::router(sim.clone()));
    let tasks = vec![
        tokio::spawn(serve(
            "ontap",
            ontap_listener,
            ontap_acceptor,
            ontap_router,
            cancel.clone(),
            false,
        )),
        tokio::spawn(serve(
            "pve",
            pve_listener,
            pve_acceptor,
            pve_router,
            cancel.clone(),
            true,
        )),
    ];

    crate::ontap::on_start(&sim);
    crate::pve::on_start(&sim);
    tracing::info!(ontap = %ontap_addr, pve = %pve_addr, "simulator listening");
    Ok(RunningSim {
        sim,
        ontap_addr,
        pve_addr,
        ca_pem: tls.ca_pem,
        ca_path: tls.ca_path,
        cancel,
        tasks,
    })
}

/// Which API a listener serves; handed to the shared layer.
#[derive(Clone)]
struct LayerCtx {
    sim: Arc<Sim>,
    api: &'static str,
}

/// Marks a response whose connection must be closed without sending it (fault `drop_connection`).
#[derive(Clone, Copy)]
struct DropConnection;

fn api_router(sim: &Arc<Sim>, api: &'static str, router: Router) -> Router {
    router
        .merge(crate::hooks::router(sim.clone()))
        .layer(axum::middleware::from_fn_with_state(
            LayerCtx {
                sim: sim.clone(),
                api,
            },
            observe,
        ))
}

/// The shared layer: faults, then the handler, then persistence, statistics and the request log.
async fn observe(State(ctx): State<LayerCtx>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let route = template
        .clone()
        .unwrap_or_else(|| "<unmatched>".to_string());
    let is_hook = path.starts_with("/_sim/") || path == "/_sim";

    let mut response = None;
    if !is_hook {
        let action = ctx
            .sim
            .faults
            .on_request(ctx.api, method.as_str(), &route, &path);
        if let Some(latency) = action.latency {
            tokio::time::sleep(latency).await;
        }
        match action.outcome {
            Some(FaultOutcome::Error(spec)) => response = Some(fault_response(ctx.api, &spec)),
            Some(FaultOutcome::Drop) => {
                let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                r.extensions_mut().insert(DropConnection);
                response = Some(r);
            }
            None => {}
        }
    }
    let injected = response.is_some();
    let response = match response {
        Some(r) => r,
        None => next.run(req).await,
    };
    let status = response.status();
    if !injected
        && !is_hook
        && method != Method::GET
        && method != Method::HEAD
        && method != Method::OPTIONS
    {
        ctx.sim.persist();
    }
    let elapsed = started.elapsed();
    if !is_hook {
        ctx.sim
            .stats
            .record(ctx.api, method.as_str(), &route, status.as_u16(), elapsed);
    }
    tracing::info!(
        api = ctx.api,
        method = %method,
        path = %path,
        status = status.as_u16(),
        ms = format!("{:.1}", elapsed.as_secs_f64() * 1000.0),
        "request"
    );
    response
}

fn fault_response(api: &str, spec: &crate::faults::ErrorSpec) -> Response {
    let status = StatusCode::from_u16(spec.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = spec
        .message
        .clone()
        .unwrap_or_else(|| "injected fault".to_string());
    let body = if api == "ontap" {
        let mut err = serde_json::json!({
            "message": message,
            "code": spec.code.clone().unwrap_or_else(|| "1".to_string()),
        });
        if let Some(t) = &spec.target {
            err["target"] = serde_json::Value::String(t.clone());
        }
        serde_json::json!({ "error": err })
    } else {
        serde_json::json!({ "data": null, "message": message })
    };
    (status, axum::Json(body)).into_response()
}

#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for ConnectionDropped {}

async fn serve(
    api: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    cancel: CancellationToken,
    http1_only: bool,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(api, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let cancel = cancel.clone();
        connections.spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(api, %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let router = router.clone();
                async move {
                    let resp = match router.oneshot(req.map(axum::body::Body::new)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<DropConnection>().is_some() {
                        return Err(ConnectionDropped);
                    }
                    Ok::<_, ConnectionDropped>(resp)
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if http1_only {
                builder = builder.http1_only();
            }
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(api, %peer, error = %e, "connection ended") },
                _ = cancel.cancelled() => {}
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}
