//! FlexCloneMount: a FlexClone of a snapshot mounted at a unique junction and added to Proxmox as a new NFS
//! storage (same server and options as the parent's). Deletion refuses while a VM uses the storage.
//!
//! apply: observe (identity, source) → refuse a taken storage id → the clone → mounted → split → the Proxmox
//! storage → Ready. cleanup: the storage, if ours and unused → the clone, if ours → its recovery-queue entry.

mod apply;
mod cleanup;
mod plan;
mod source;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::context::Context;
use super::error::Error;
use super::naming::OwnerMarker;
use super::reconcile::reconcile_namespaced;
use super::status::StatusWriter;
use crate::api::FlexCloneMount;

const JOB_POLL: Duration = Duration::from_secs(3);
const BLOCKED_POLL: Duration = Duration::from_secs(15);
/// Condition saying whether the storage settings of the spec are in effect.
const SPEC_APPLIED: &str = "SpecApplied";

type Writer = StatusWriter<FlexCloneMount>;

#[instrument(skip_all, fields(kind = "FlexCloneMount", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply::apply, cleanup::cleanup).await
}

fn marker(ctx: &Context, obj: &FlexCloneMount) -> OwnerMarker {
    OwnerMarker::of(&ctx.settings.cluster_id, obj)
}
