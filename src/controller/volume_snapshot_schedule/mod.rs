//! VolumeSnapshotSchedule: VolumeSnapshots taken on a cron schedule, expired by retention.
//!
//! apply: parse the schedule → list the schedule's own VolumeSnapshots → the slot due now (CronJob's rule: only
//! the latest missed slot, within the starting deadline; skipped while the previous snapshot is in progress) →
//! create its VolumeSnapshot (name from UID + slot, so never two per slot) → expire by retention what is not
//! mounted → status, requeue at the next slot. No backend call of its own: the VolumeSnapshots do the work.
//! cleanup: the snapshots stay unless `deleteSnapshotsWithSchedule`.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::context::Context;
use super::error::Error;
use super::reconcile::reconcile_namespaced;
use crate::api::VolumeSnapshotSchedule;

mod apply;
mod cleanup;
pub mod owned;
pub mod retention;
pub mod slots;

#[instrument(skip_all, fields(kind = "VolumeSnapshotSchedule", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(
    obj: Arc<VolumeSnapshotSchedule>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply::apply, cleanup::cleanup).await
}
