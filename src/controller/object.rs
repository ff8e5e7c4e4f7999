//! What the runtime needs to know about each kind: its name and the status fields every kind shares.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::conditions::{self, Progress, READY};
use crate::api::{
    FlexCloneMount, FlexCloneMountStatus, Phase, VmDiskClone, VmDiskCloneStatus, VolumeSnapshot,
    VolumeSnapshotRestore, VolumeSnapshotRestoreStatus, VolumeSnapshotSchedule,
    VolumeSnapshotScheduleStatus, VolumeSnapshotStatus,
};

/// Mutable views of the status fields every namespaced kind has.
pub struct CommonStatus<'a> {
    pub phase: &'a mut Phase,
    pub conditions: &'a mut Vec<Condition>,
    pub observed_generation: &'a mut Option<i64>,
    pub message: &'a mut Option<String>,
}

impl CommonStatus<'_> {
    /// Sets phase, message, observedGeneration, the Ready condition and the kstatus pair in one go: a permanent
    /// failure (`Failed`) is `Stalled`, every phase on the way (including deletion) `Reconciling`.
    pub fn set(
        &mut self,
        phase: Phase,
        ready: bool,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
    ) {
        let message = message.into();
        *self.phase = phase;
        *self.observed_generation = generation;
        conditions::set_condition(
            self.conditions,
            conditions::new_condition(
                READY,
                ready,
                reason,
                message.clone(),
                generation,
                conditions::now(),
            ),
        );
        let progress = match phase {
            Phase::Ready => Progress::Current,
            Phase::Failed => Progress::Stalled,
            Phase::Pending | Phase::InProgress | Phase::Deleting => Progress::Reconciling,
        };
        conditions::set_progress(self.conditions, progress, reason, &message, generation);
        *self.message = Some(message);
    }
}

pub trait Managed:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    type Status: Clone + Default + Serialize + PartialEq + Send + Sync + Debug;

    fn status_cloned(&self) -> Self::Status;
    fn common(status: &mut Self::Status) -> CommonStatus<'_>;
    /// Phase and observedGeneration, when the object has a status.
    fn observed(&self) -> Option<(Phase, Option<i64>)>;
}

macro_rules! managed {
    ($kind:ty, $status:ty, $name:literal) => {
        impl Managed for $kind {
            const KIND: &'static str = $name;
            type Status = $status;

            fn status_cloned(&self) -> Self::Status {
                self.status.clone().unwrap_or_default()
            }

            fn observed(&self) -> Option<(Phase, Option<i64>)> {
                self.status
                    .as_ref()
                    .map(|s| (s.phase, s.observed_generation))
            }

            fn common(s: &mut Self::Status) -> CommonStatus<'_> {
                CommonStatus {
                    phase: &mut s.phase,
                    conditions: &mut s.conditions,
                    observed_generation: &mut s.observed_generation,
                    message: &mut s.message,
                }
            }
        }
    };
}

managed!(VmDiskClone, VmDiskCloneStatus, "VmDiskClone");
managed!(VolumeSnapshot, VolumeSnapshotStatus, "VolumeSnapshot");
managed!(FlexCloneMount, FlexCloneMountStatus, "FlexCloneMount");
managed!(
    VolumeSnapshotRestore,
    VolumeSnapshotRestoreStatus,
    "VolumeSnapshotRestore"
);
managed!(
    VolumeSnapshotSchedule,
    VolumeSnapshotScheduleStatus,
    "VolumeSnapshotSchedule"
);
