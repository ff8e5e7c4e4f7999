//! One reconcile's working state: the object, its status as being rewritten, and the backend clients.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::Api;
use kube::{Resource, ResourceExt};

use crate::api::common::VmRestoreAction;
use crate::api::conditions;
use crate::api::vm_disk_clone::VmConsistency;
use crate::api::{Phase, VmDiskClone, VmDiskCloneStatus};
use crate::controller::backends;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::object::Managed;
use crate::controller::ports::{OntapClient, PveClient};
use crate::controller::reconcile::api_for;
use crate::controller::status::apply_status;
use crate::metrics::VmDisturbance;

pub struct Run {
    pub obj: Arc<VmDiskClone>,
    pub ctx: Arc<Context>,
    pub api: Api<VmDiskClone>,
    pub status: VmDiskCloneStatus,
    written: VmDiskCloneStatus,
    pub namespace: String,
    pub pve_name: String,
    pub pve: PveClient,
    ontaps: HashMap<String, OntapClient>,
}

impl Run {
    /// Resolves the ProxmoxCluster (allow-list first, no backend call before it).
    pub async fn new(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Self, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let pve_name = obj.spec.proxmox_cluster_ref.name.clone();
        let (_, pve) = backends::proxmox_for(&ctx, &namespace, &pve_name).await?;
        let status = obj.status_cloned();
        Ok(Self {
            api: api_for(&ctx, obj.as_ref()),
            written: status.clone(),
            status,
            namespace,
            pve_name,
            pve,
            ontaps: HashMap::new(),
            obj,
            ctx,
        })
    }

    pub fn vmid(&self) -> u32 {
        self.obj.spec.vmid
    }

    pub fn generation(&self) -> Option<i64> {
        self.obj.meta().generation
    }

    pub fn hash(&self) -> String {
        naming::object_hash(
            &self.ctx.settings.cluster_id,
            &self.obj.uid().unwrap_or_default(),
        )
    }

    /// Client of an OntapCluster named in the plan (allow-list checked again: it may have changed).
    pub async fn ontap(&mut self, name: &str) -> Result<OntapClient, Error> {
        if let Some(c) = self.ontaps.get(name) {
            return Ok(c.clone());
        }
        let (_, client) = backends::ontap_for(&self.ctx, &self.namespace, name).await?;
        self.ontaps.insert(name.to_owned(), client.clone());
        Ok(client)
    }

    /// Sets phase, Ready and message.
    pub fn set(&mut self, phase: Phase, reason: &str, message: impl Into<String>) {
        let generation = self.generation();
        VmDiskClone::common(&mut self.status).set(
            phase,
            phase == Phase::Ready,
            reason,
            message,
            generation,
        );
    }

    pub fn set_condition(
        &mut self,
        type_: &str,
        ok: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let generation = self.generation();
        conditions::set_condition(
            &mut self.status.conditions,
            conditions::new_condition(type_, ok, reason, message, generation, conditions::now()),
        );
    }

    /// Writes the status if it changed since the last write.
    pub async fn save(&mut self) -> Result<(), Error> {
        if self.status != self.written {
            apply_status(&self.api, &self.obj.name_any(), &self.status).await?;
            if self.status.phase != self.written.phase {
                self.ctx
                    .metrics
                    .phase_changed("VmDiskClone", self.status.phase.as_str());
            }
            self.written = self.status.clone();
            self.report_disturbed();
        }
        Ok(())
    }

    /// Publishes the VM state changes now recorded in status (written before each change, removed once undone).
    fn report_disturbed(&self) {
        // `Start` undoes a hibernation or a shutdown; the requested consistency tells which.
        let stopped = match self
            .status
            .consistency_applied
            .unwrap_or(self.obj.spec.consistency)
        {
            VmConsistency::Hibernate => VmDisturbance::Hibernated,
            _ => VmDisturbance::Stopped,
        };
        let vms = self.status.restore.iter().map(|r| {
            let state = match r.action {
                VmRestoreAction::Thaw => VmDisturbance::Frozen,
                VmRestoreAction::Resume => VmDisturbance::Paused,
                VmRestoreAction::Start => stopped,
            };
            (r.vmid, state)
        });
        self.ctx
            .metrics
            .set_disturbed(&self.obj.uid().unwrap_or_default(), vms);
    }

    pub async fn normal(&self, reason: &str, note: impl Into<String>) {
        self.ctx.normal(self.obj.as_ref(), reason, note).await
    }

    pub async fn warning(&self, reason: &str, note: impl Into<String>) {
        self.ctx.warning(self.obj.as_ref(), reason, note).await
    }
}
