//! Runs the test control plane for the local environment (`make dev-up` / `make demo`) until SIGINT/SIGTERM.
//! It is the same code the tests use, so the demo and the tests see the same apiserver setup.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Local etcd + kube-apiserver (RBAC) with the project's CRDs installed")]
struct Args {
    /// Certificates, etcd data and component logs (emptied at start, kept at exit for inspection).
    #[arg(long, default_value = ".dev/controlplane")]
    state_dir: PathBuf,
    /// Where to write the admin kubeconfig.
    #[arg(long, default_value = ".dev/kubeconfig")]
    kubeconfig: PathBuf,
    /// Sourceable file with the server URL and process ids, written once the control plane is ready.
    #[arg(long, default_value = ".dev/controlplane.env")]
    env_file: PathBuf,
    /// CRDs to install (default: the repository's crds/).
    #[arg(long)]
    crd_dir: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let state_dir = std::path::absolute(&args.state_dir).context("resolving --state-dir")?;
    let options = testkit::Options {
        crd_dir: args.crd_dir,
        state_dir: Some(state_dir),
        ..Default::default()
    };
    let control_plane = testkit::ControlPlane::start_with(options)
        .await
        .context("starting the control plane")?;

    write_private(&args.kubeconfig, control_plane.admin_kubeconfig())?;
    let (etcd_pid, apiserver_pid) = control_plane
        .pids()
        .context("control plane stopped unexpectedly")?;
    let env = format!(
        "PVE_ONTAP_APISERVER={}\nPVE_ONTAP_APISERVER_PID={apiserver_pid}\nPVE_ONTAP_ETCD_PID={etcd_pid}\nPVE_ONTAP_CONTROLPLANE_PID={}\nPVE_ONTAP_CONTROLPLANE_LOGS={}\n",
        control_plane.server_url(),
        std::process::id(),
        control_plane.state_dir().display(),
    );
    // Written last: its presence tells `dev-up` that the kubeconfig is usable.
    write_private(&args.env_file, &env)?;
    tracing::info!(
        server = control_plane.server_url(),
        kubeconfig = %args.kubeconfig.display(),
        crds = control_plane.installed_crds().len(),
        "control plane ready; stop with SIGINT or SIGTERM"
    );

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping the control plane");
    control_plane.shutdown();
    let _ = std::fs::remove_file(&args.env_file);
    Ok(())
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(contents.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
