//! `pve-ontap-sim`: serves the simulated ONTAP and Proxmox VE APIs over HTTPS.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use pve_ontap_sim::{ScenarioSource, SimOptions};

#[derive(Parser, Debug)]
#[command(
    name = "pve-ontap-sim",
    version,
    about = "Simulator of the NetApp ONTAP REST API and the Proxmox VE API"
)]
struct Args {
    /// Address of the ONTAP REST API listener.
    #[arg(
        long,
        default_value = "127.0.0.1:8443",
        env = "PVE_ONTAP_SIM_ONTAP_ADDR"
    )]
    ontap_addr: SocketAddr,
    /// Address of the Proxmox VE API listener.
    #[arg(long, default_value = "127.0.0.1:8006", env = "PVE_ONTAP_SIM_PVE_ADDR")]
    pve_addr: SocketAddr,
    /// Directory for the generated CA and server certificate (ca.crt, ca.key, server.crt, server.key).
    #[arg(long, env = "PVE_ONTAP_SIM_TLS_DIR")]
    tls_dir: PathBuf,
    /// Scenario file (YAML or JSON); the built-in default scenario otherwise.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// State file: loaded at start when present, rewritten after every change.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Generate this many extra volumes (overrides the scenario's `ontap.generate_volumes`).
    #[arg(long)]
    generate_volumes: Option<usize>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }

    let running = pve_ontap_sim::start(SimOptions {
        ontap_addr: args.ontap_addr,
        pve_addr: args.pve_addr,
        tls_dir: args.tls_dir.clone(),
        scenario: args.scenario.map(ScenarioSource::Path).unwrap_or_default(),
        state_path: args.state,
        generate_volumes: args.generate_volumes,
    })
    .await
    .context("starting the simulator")?;

    // The ready line goes to stdout (logs go to stderr) so scripts can wait for it and read the URLs.
    println!(
        "pve-ontap-sim ready ontap={} pve={} ca={}",
        running.ontap_url(),
        running.pve_url(),
        running.ca_path().display()
    );

    wait_for_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
