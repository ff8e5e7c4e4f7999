//! Status writes: server-side apply of `/status` under one field manager. Condition helpers live in
//! `crate::api::conditions` (shared with the types).

use std::sync::Arc;

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::Context;
use super::error::Error;
use super::object::Managed;
use crate::api::common::{VmRestore, VmRestoreAction};
use crate::api::conditions;
use crate::api::Phase;
use crate::metrics::{Metrics, VmDisturbance};

/// The API of a namespaced object's kind in its namespace.
pub fn api_for<K: Managed>(ctx: &Context, obj: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "pve-ontap-controller";

/// Current time as an RFC 3339 string with whole seconds, for status timestamps kept as strings.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes `status` with server-side apply; the body names apiVersion and kind as SSA requires.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// What a status says is disturbed on which VM (kinds with consistency windows), computed after each write.
pub type Disturbed<S> = Box<dyn Fn(&S) -> Vec<(u32, VmDisturbance)> + Send + Sync>;

/// One reconcile's status of a namespaced object: edited in place, written only when it changed since the last
/// write (an unchanged write would wake the object up again for nothing). Every write that changes the phase
/// counts a phase transition and moves the object in the phase gauge; kinds with consistency windows also report the VMs their status holds disturbed.
pub struct StatusWriter<K: Managed> {
    api: Api<K>,
    name: String,
    /// The object's UID (the key of per-object facts and metrics).
    pub uid: String,
    written: K::Status,
    pub status: K::Status,
    pub generation: Option<i64>,
    metrics: Arc<Metrics>,
    disturbed: Option<Disturbed<K::Status>>,
}

impl<K: Managed> StatusWriter<K> {
    pub fn new(ctx: &Context, obj: &K) -> Self {
        let status = obj.status_cloned();
        Self {
            api: api_for(ctx, obj),
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
            written: status.clone(),
            status,
            generation: obj.meta().generation,
            metrics: ctx.metrics.clone(),
            disturbed: None,
        }
    }

    /// Reports the VMs `f` finds disturbed in the status as read, and after each write in the status written.
    pub fn reporting_disturbed(
        mut self,
        f: impl Fn(&K::Status) -> Vec<(u32, VmDisturbance)> + Send + Sync + 'static,
    ) -> Self {
        // The status as read counts too: after a restart or a leader handover, VMs an earlier process left
        // disturbed would otherwise not count (nor alert) until this object's status changes again, and an undo
        // that keeps failing the same way does not change it.
        self.metrics.set_disturbed(&self.uid, f(&self.status));
        self.disturbed = Some(Box::new(f));
        self
    }

    /// Sets phase, message, observedGeneration and the Ready condition.
    pub fn set(&mut self, phase: Phase, reason: &str, msg: impl Into<String>) {
        K::common(&mut self.status).set(phase, phase == Phase::Ready, reason, msg, self.generation);
    }

    /// Sets the condition `type_` at the current generation.
    pub fn condition(&mut self, type_: &str, ok: bool, reason: &str, msg: impl Into<String>) {
        let generation = self.generation;
        conditions::set_condition(
            K::common(&mut self.status).conditions,
            conditions::new_condition(type_, ok, reason, msg, generation, conditions::now()),
        );
    }

    /// Writes the status if it changed since the last write; true when it wrote.
    pub async fn save(&mut self) -> Result<bool, Error> {
        if self.status == self.written {
            return Ok(false);
        }
        apply_status(&self.api, &self.name, &self.status).await?;
        let (was, is) = (
            *K::common(&mut self.written).phase,
            *K::common(&mut self.status).phase,
        );
        if was != is {
            self.metrics.phase_changed(K::KIND, is.as_str());
        }
        self.metrics.object_phase(K::KIND, &self.uid, is.as_str());
        self.written = self.status.clone();
        if let Some(f) = &self.disturbed {
            self.metrics.set_disturbed(&self.uid, f(&self.status));
        }
        Ok(true)
    }
}

/// The disturbance each recorded undo stands for: a thaw undoes a freeze, a resume a pause, a start what
/// `started` says (a shutdown or a hibernation).
pub fn disturbances(restore: &[VmRestore], started: VmDisturbance) -> Vec<(u32, VmDisturbance)> {
    restore
        .iter()
        .map(|r| {
            let state = match r.action {
                VmRestoreAction::Thaw => VmDisturbance::Frozen,
                VmRestoreAction::Resume => VmDisturbance::Paused,
                VmRestoreAction::Start => started,
            };
            (r.vmid, state)
        })
        .collect()
}
