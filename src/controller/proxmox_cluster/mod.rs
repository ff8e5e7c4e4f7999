//! ProxmoxCluster: probes the cluster with the controller's credentials and reports version, nodes and Ready.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::backends::proxmox_client;
use super::context::Context;
use super::error::Error;
use super::probe::reconcile_backend;
use crate::api::proxmox_cluster::ProxmoxNodeStatus;
use crate::api::ProxmoxCluster;

#[instrument(skip_all, fields(kind = "ProxmoxCluster", name = %pc.name_any()))]
pub async fn reconcile(pc: Arc<ProxmoxCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let insecure = pc.spec.insecure_skip_tls_verify;
    let probe = async {
        let client = proxmox_client(&ctx.backends, &pc, Duration::ZERO).await?;
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
