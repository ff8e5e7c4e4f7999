//! OntapCluster: probes the cluster with the controller's credentials and reports name, version, SVMs and Ready.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::backends::ontap_client;
use super::context::Context;
use super::error::Error;
use super::probe::reconcile_backend;
use crate::api::ontap_cluster::OntapSvmStatus;
use crate::api::OntapCluster;

#[instrument(skip_all, fields(kind = "OntapCluster", name = %oc.name_any()))]
pub async fn reconcile(oc: Arc<OntapCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let insecure = oc.spec.insecure_skip_tls_verify;
    let probe = async {
        let client = ontap_client(&ctx.backends, &oc, Duration::ZERO).await?;
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
