//! VmDiskClone: ONTAP FileClone copies of a VM's disks inside one consistency window.
//!
//! apply: observe (backends, VM, storages, ONTAP volumes) → plan (pure, recorded in status before acting) →
//! consistency window with every file clone inside it → attach (unusedN or a new VM) → Ready.
//! cleanup: restore the VM if a window was interrupted → unregister our config entries (only while unchanged) →
//! delete the copies (or the VM we created, once stopped).

mod apply;
mod cleanup;
mod crash_point;
pub mod plan;
mod run;
mod window;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::context::Context;
use super::error::Error;
use super::reconcile::reconcile_namespaced;
use crate::api::VmDiskClone;

#[instrument(skip_all, fields(kind = "VmDiskClone", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply::apply, cleanup::cleanup).await
}
