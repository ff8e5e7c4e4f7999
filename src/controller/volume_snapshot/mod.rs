//! VolumeSnapshot: an ONTAP snapshot of the volume behind a Proxmox storage (or a named volume), optionally with
//! the storage's running VMs frozen or paused for the instant; deletion waits for FlexClone dependents.
//!
//! apply: observe (the volume, the snapshot's name and comment) → advance any open window → the snapshot: found,
//! its creation job followed, or taken (inside a window for FsFreeze/Suspend) → verify ownership → re-apply the
//! comment → Ready. cleanup: close any window → let a creation job finish → refuse while something depends on the
//! snapshot → delete it, if ours (or adopted, where the backend's owner allows it).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::backends::ProxmoxGrant;
use super::context::Context;
use super::error::Error;
use super::naming::{self, OwnerMarker};
use super::ports::{OntapClient, PveClient};
use super::reconcile::reconcile_namespaced;
use super::status::{self, StatusWriter};
use crate::api::VolumeSnapshot;
use crate::metrics::VmDisturbance;

/// A step's outcome: go on with `T`, or end this reconcile (or deletion pass) with `B`.
type Step<T, B = Action> = Result<ControlFlow<B, T>, Error>;

/// Unwraps a step, returning its break value from the caller when it ended the reconcile.
macro_rules! step {
    ($e:expr) => {
        match $e? {
            ControlFlow::Continue(v) => v,
            ControlFlow::Break(b) => return Ok(b),
        }
    };
}

mod apply;
mod cleanup;
pub(crate) mod plan;
mod target;
mod window;

const JOB_POLL: Duration = Duration::from_secs(3);
const BLOCKED_POLL: Duration = Duration::from_secs(15);
/// Condition saying whether every spec field is in effect (some only matter when the snapshot is taken).
const SPEC_APPLIED: &str = "SpecApplied";

#[instrument(skip_all, fields(kind = "VolumeSnapshot", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply::apply, cleanup::cleanup).await
}

/// The volume a VolumeSnapshot is about.
struct Target {
    ontap_cluster: String,
    ontap: OntapClient,
    svm: String,
    volume: String,
    volume_uuid: String,
    /// Proxmox side, when named through a storage: (client, ProxmoxCluster name, storage id).
    pve: Option<(PveClient, String, String)>,
    /// What the ProxmoxCluster grants this namespace, when named through a storage.
    grant: Option<ProxmoxGrant>,
}

impl Target {
    fn pve_name(&self) -> &str {
        self.pve.as_ref().map(|p| p.1.as_str()).unwrap_or_default()
    }
}

fn marker(ctx: &Context, obj: &VolumeSnapshot) -> OwnerMarker {
    OwnerMarker::of(&ctx.settings.cluster_id, obj)
}

/// Name of the snapshot this object manages.
pub(crate) fn snapshot_name(ctx: &Context, obj: &VolumeSnapshot) -> String {
    if let Some(n) = obj
        .spec
        .existing_snapshot_name
        .clone()
        .or_else(|| obj.spec.snapshot_name.clone())
    {
        return n;
    }
    naming::snapshot_name(
        &obj.name_any(),
        &naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default()),
    )
}

/// The status writer; it reports the VMs the window holds paused or frozen after each write (the restore list is
/// written before each VM is touched and shrinks as each is restored).
type Writer = StatusWriter<VolumeSnapshot>;

fn writer(ctx: &Context, obj: &VolumeSnapshot) -> Writer {
    StatusWriter::new(ctx, obj)
        .reporting_disturbed(|s| status::disturbances(&s.restore, VmDisturbance::Stopped))
}
