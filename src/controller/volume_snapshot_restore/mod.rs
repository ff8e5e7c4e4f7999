//! VolumeSnapshotRestore: the ONTAP volume behind a Proxmox storage rolled back to one of its snapshots, once.
//!
//! apply: observe (the storage, its volume and snapshots, the VMs with disks on it) → plan (what the restore
//! destroys and stops, written to status) → refuse unless confirmed, unblocked and within the VM policy → stop
//! the running VMs (each recorded before its shutdown) → restore (the stage recorded before the request) → start
//! exactly the VMs stopped → Completed. Until the restore is requested, anything unexpected aborts: every VM
//! stopped is started again and nothing is restored. cleanup: a restore cannot be undone; a deletion before the
//! restore was requested cancels it (the VMs are started again), after it lets it finish, then only the object
//! goes.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::context::Context;
use super::error::Error;
use super::reconcile::reconcile_namespaced;
use super::status::{self, StatusWriter};
use crate::api::volume_snapshot_restore::RestoreScope;
use crate::api::VolumeSnapshotRestore;
use crate::metrics::VmDisturbance;

mod apply;
mod cleanup;
mod plan;
mod stages;
mod target;
mod vms;

const JOB_POLL: Duration = Duration::from_secs(3);
/// How soon a blocked restore (confirmation missing, VMs running, a FlexClone in the way) looks again.
const BLOCKED_POLL: Duration = Duration::from_secs(15);

#[instrument(skip_all, fields(kind = "VolumeSnapshotRestore", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(
    obj: Arc<VolumeSnapshotRestore>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply::apply, cleanup::cleanup).await
}

type Writer = StatusWriter<VolumeSnapshotRestore>;

/// The status writer; it reports the VMs this object holds shut down after each write.
fn writer(ctx: &Context, obj: &VolumeSnapshotRestore) -> Writer {
    StatusWriter::new(ctx, obj)
        .reporting_disturbed(|s| status::disturbances(&s.restore, VmDisturbance::Stopped))
}

/// One reconcile's working state: the object, its status being written, and what it restores.
struct Run {
    obj: Arc<VolumeSnapshotRestore>,
    ctx: Arc<Context>,
    w: Writer,
    t: target::Target,
}

impl Run {
    /// Resolves the target and records it in status, so the user sees what would be restored.
    async fn observe(obj: Arc<VolumeSnapshotRestore>, ctx: Arc<Context>) -> Result<Run, Error> {
        let mut w = writer(&ctx, &obj);
        let t = target::target(&ctx, &obj).await?;
        let st = &mut w.status;
        st.proxmox_cluster = Some(t.pve_name.clone());
        st.storage = Some(t.storage.clone());
        st.ontap_cluster = Some(t.ontap_cluster.clone());
        st.svm = Some(t.svm.clone());
        st.volume_name = Some(t.volume.clone());
        st.volume_uuid = Some(t.volume_uuid.clone());
        st.snapshot_name = Some(t.snapshot.clone());
        Ok(Run { obj, ctx, w, t })
    }

    /// What the restore puts back, as messages name it.
    fn what(&self) -> String {
        match self.obj.spec.scope {
            RestoreScope::Storage => format!("volume {}", self.t.volume),
            RestoreScope::Vm => format!(
                "the disk files of VM {}",
                self.obj.spec.vmid.unwrap_or_default()
            ),
        }
    }

    fn uid(&self) -> String {
        self.obj.uid().unwrap_or_default()
    }

    fn vm_key(&self, vmid: u32) -> String {
        super::locks::KeyedLocks::vm_key(&self.t.pve_name, vmid)
    }

    async fn normal(&self, reason: &str, msg: String) {
        self.ctx.normal(self.obj.as_ref(), reason, msg).await;
    }

    async fn warning(&self, reason: &str, msg: String) {
        self.ctx.warning(self.obj.as_ref(), reason, msg).await;
    }
}
