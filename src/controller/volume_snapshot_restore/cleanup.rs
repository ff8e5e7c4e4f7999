//! Deletion of a VolumeSnapshotRestore. A restore cannot be undone, so only the object goes; but it never goes
//! while VMs are held down or a restore is in flight: before the restore was requested the deletion cancels it
//! (every VM stopped for it is started again), after it the restore and the restart are let finish.

use std::sync::Arc;

use super::stages::{self, Flow};
use super::Run;
use crate::api::volume_snapshot_restore::RestoreStage;
use crate::api::VolumeSnapshotRestore;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::reconcile::Cleanup;

pub async fn cleanup(obj: Arc<VolumeSnapshotRestore>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
    if !obj.status.as_ref().is_some_and(|s| s.work_open()) {
        return Ok(Cleanup::Done);
    }
    let mut r = Run::observe(obj, ctx).await?;
    if r.w.status.stage == RestoreStage::Stopping {
        stages::abort(
            &mut r,
            "the object was deleted before the restore was requested".into(),
        )
        .await?;
    }
    match stages::drive(&mut r).await? {
        Flow::Break(action) => Ok(Cleanup::Wait(action)),
        Flow::Continue(()) => Ok(Cleanup::Done),
    }
}
