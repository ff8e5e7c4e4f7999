//! `kubectl-pveontap`: the old `pve-ontap-snapshot` script's commands as pveontap.io objects. It only creates,
//! lists, reads and deletes our custom resources with the user's kubeconfig; the controller does the work on ONTAP
//! and Proxmox VE. On PATH it runs as `kubectl pveontap ...`.

mod cli;
mod cmd_restore;
mod cmd_status;
mod cmd_storage;
mod cmd_vm;
mod context;
mod discovery;
mod follow;
mod lookup;
mod manifests;
mod submit;
mod view;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::{Ctx, Failure, EXIT_FAILED};

fn main() {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            let code = e.downcast_ref::<Failure>().map_or(EXIT_FAILED, |f| f.code);
            eprintln!("error: {e:#}");
            code
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::connect(cli.global).await?;
    match &cli.command {
        Command::Vm(cmd) => cmd_vm::run(&ctx, cmd).await,
        Command::Storage(cmd) => cmd_storage::run(&ctx, cmd).await,
        Command::Status => cmd_status::run(&ctx).await,
    }
}
