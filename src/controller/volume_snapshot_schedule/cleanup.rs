//! Deletion of a VolumeSnapshotSchedule: its snapshots are data and stay (they keep their label and go on as
//! ordinary VolumeSnapshots), unless `deleteSnapshotsWithSchedule` asks to delete them with it; then the schedule
//! goes once they are gone (each VolumeSnapshot's own deletion waits for FlexClones that depend on it).

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::apply::list_owned;
use crate::api::{VolumeSnapshot, VolumeSnapshotSchedule};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::reconcile::Cleanup;

pub async fn cleanup(
    obj: Arc<VolumeSnapshotSchedule>,
    ctx: Arc<Context>,
) -> Result<Cleanup, Error> {
    if !obj.spec.delete_snapshots_with_schedule {
        return Ok(Cleanup::Done);
    }
    let owned = list_owned(&ctx, &obj).await?;
    if owned.is_empty() {
        return Ok(Cleanup::Done);
    }
    let api =
        Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    for o in &owned {
        if o.vs.metadata.deletion_timestamp.is_none() {
            match api.delete(&o.vs.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Cleanup::Wait(Action::requeue(Duration::from_secs(3))))
}
