//! One reconcile's working state: the object, its status as being rewritten, and the backend clients.

use std::collections::HashMap;
use std::sync::Arc;

use kube::{Resource, ResourceExt};

use crate::api::vm_disk_clone::VmConsistency;
use crate::api::{Phase, VmDiskClone, VmDiskCloneStatus};
use crate::controller::backends;
use crate::controller::backends::{OntapGrant, ProxmoxGrant};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::ports::{OntapClient, PveClient, VmConfig, VmState};
use crate::controller::status::{self, StatusWriter};
use crate::metrics::VmDisturbance;

pub struct Run {
    pub obj: Arc<VmDiskClone>,
    pub ctx: Arc<Context>,
    /// The status as being rewritten (and what was last written).
    pub w: StatusWriter<VmDiskClone>,
    pub namespace: String,
    pub pve_name: String,
    pub pve: PveClient,
    /// What the ProxmoxCluster grants this namespace.
    pub grant: ProxmoxGrant,
    /// The ProxmoxCluster's pinned storages.
    mappings: Vec<crate::api::proxmox_cluster::StorageMapping>,
    ontaps: HashMap<String, (OntapClient, OntapGrant)>,
    /// The VM's node as used in this reconcile, and whether it was remembered from an earlier one (then a
    /// "does not exist" answer means the VM moved, and it is looked up again).
    node: Option<String>,
    node_remembered: bool,
    /// The VM config read in this reconcile (merged, with digest) and the VM's config epoch before that read
    /// (see [`crate::controller::context::BackendFacts::config_epoch`]); dropped when we change it.
    config: Option<(VmConfig, u64)>,
    /// Whether the VM was running (a QEMU process, paused or not) when this reconcile looked at it before the
    /// copies; the window always leaves it as found, so it tells whether Proxmox keeps a config change pending.
    pub found_running: Option<bool>,
}

impl Run {
    /// Resolves the ProxmoxCluster (allow-list first, no backend call before it).
    pub async fn new(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Self, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let pve_name = obj.spec.proxmox_cluster_ref.name.clone();
        let (pc, pve) = backends::proxmox_for(&ctx.backends, &namespace, &pve_name).await?;
        let grant = ProxmoxGrant::of(&pc, &namespace);
        // `Start` undoes a hibernation or a shutdown; the requested consistency tells which.
        let requested = obj.spec.consistency;
        let w = StatusWriter::new(&ctx, obj.as_ref()).reporting_disturbed(
            move |s: &VmDiskCloneStatus| {
                let started = match s.consistency_applied.unwrap_or(requested) {
                    VmConsistency::Hibernate => VmDisturbance::Hibernated,
                    _ => VmDisturbance::Stopped,
                };
                status::disturbances(&s.restore, started)
            },
        );
        Ok(Self {
            w,
            namespace,
            pve_name,
            pve,
            grant,
            mappings: pc.spec.storage_mappings.clone(),
            ontaps: HashMap::new(),
            node: None,
            node_remembered: false,
            config: None,
            found_running: None,
            obj,
            ctx,
        })
    }

    fn node_key(&self, vmid: u32) -> String {
        crate::controller::context::vm_fact_key(&self.pve_name, vmid)
    }

    /// The VM's node: the one used earlier in this reconcile, else the remembered one, else from Proxmox.
    pub async fn node(&mut self) -> Result<String, Error> {
        if let Some(n) = &self.node {
            return Ok(n.clone());
        }
        if let Some(n) = self.ctx.facts.vm_nodes.get(&self.node_key(self.vmid())) {
            self.node = Some(n.clone());
            self.node_remembered = true;
            return Ok(n);
        }
        self.locate().await?.ok_or_else(|| self.vm_missing())
    }

    /// Like [`Run::node`], but a missing VM is `None` rather than an error.
    pub async fn try_node(&mut self) -> Result<Option<String>, Error> {
        match self.node().await {
            Ok(n) => Ok(Some(n)),
            Err(Error::Precondition(_)) if self.node.is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn vm_missing(&self) -> Error {
        Error::Precondition(format!(
            "VM {} does not exist in ProxmoxCluster {:?}",
            self.vmid(),
            self.pve_name
        ))
    }

    /// Asks Proxmox where the VM runs. One `/cluster/resources` answers for every VM, so it teaches the node of
    /// all of them.
    pub async fn locate(&mut self) -> Result<Option<String>, Error> {
        let vms = self.pve.vms().await?;
        let pve = self.pve_name.clone();
        self.ctx.facts.vm_nodes.put_all(
            vms.iter()
                .map(|(id, node)| (format!("{pve}/{id}"), node.clone())),
        );
        let vmid = self.vmid();
        self.node = vms.into_iter().find(|(id, _)| *id == vmid).map(|(_, n)| n);
        self.node_remembered = false;
        Ok(self.node.clone())
    }

    /// Whether `e` says the remembered node is wrong (Proxmox knows a VM only on the node that hosts it); if
    /// so, forgets it so the caller looks the VM up again.
    fn moved(&mut self, e: &Error) -> bool {
        let moved = self.node_remembered && e.is_not_found();
        if moved {
            let key = self.node_key(self.vmid());
            self.ctx.facts.vm_nodes.forget(&key);
            self.node = None;
            self.node_remembered = false;
        }
        moved
    }

    /// The VM config (merged, with digest), read at most once per reconcile until we change it.
    pub async fn config(&mut self) -> Result<VmConfig, Error> {
        if let Some((c, _)) = &self.config {
            return Ok(c.clone());
        }
        let epoch = self.ctx.facts.config_epoch(&self.node_key(self.vmid()));
        let pve = self.pve.clone();
        let vmid = self.vmid();
        let node = self.node().await?;
        let cfg = match pve.vm_config_merged(&node, vmid).await {
            Err(e) if self.moved(&e) => {
                let node = self.locate().await?.ok_or_else(|| self.vm_missing())?;
                pve.vm_config_merged(&node, vmid).await?
            }
            other => other?,
        };
        self.config = Some((cfg.clone(), epoch));
        Ok(cfg)
    }

    /// The config for a change about to be written: the one read in this reconcile unless another reconcile of
    /// this process changed the VM's config since. Call with [`Run::lock_config`] held.
    pub async fn config_for_change(&mut self) -> Result<VmConfig, Error> {
        let epoch = self.ctx.facts.config_epoch(&self.node_key(self.vmid()));
        if self.config.as_ref().is_some_and(|(_, e)| *e != epoch) {
            self.config = None;
        }
        self.config().await
    }

    /// Serializes config changes of this process on the VM (our objects would otherwise collide on the
    /// digest); held from [`Run::config_for_change`] until the change is written.
    pub async fn lock_config(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.ctx
            .locks
            .lock(format!("vm-config/{}/{}", self.pve_name, self.vmid()))
            .await
    }

    /// Forgets the config read in this reconcile (its digest no longer matches).
    pub fn config_changed(&mut self) {
        self.config = None;
    }

    /// Records that we changed the VM's config: the copy read in this reconcile and in others is stale.
    pub fn config_written(&mut self) {
        self.config = None;
        self.ctx.facts.config_written(&self.node_key(self.vmid()));
    }

    /// The VM's run state, fresh.
    pub async fn vm_state(&mut self) -> Result<VmState, Error> {
        let pve = self.pve.clone();
        let vmid = self.vmid();
        let node = self.node().await?;
        match pve.vm_state(&node, vmid).await {
            Err(e) if self.moved(&e) => {
                let node = self.locate().await?.ok_or_else(|| self.vm_missing())?;
                pve.vm_state(&node, vmid).await
            }
            other => other,
        }
    }

    /// Where this object's storages are resolved.
    pub fn lookup(&self) -> crate::controller::resolve::Lookup<'_> {
        crate::controller::resolve::Lookup {
            backends: &self.ctx.backends,
            facts: &self.ctx.facts.storage,
            namespace: &self.namespace,
            pve_name: &self.pve_name,
            pve: &self.pve,
            mappings: &self.mappings,
            hosts: &self.ctx.settings.hosts,
        }
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

    /// The new VM the recorded copies were made for: the VM id in the names of this object's copies, when it is
    /// not the source VM's. Read from the copies' names (which carry this object's hash), not from `spec.newVm`
    /// (which may have been edited) nor from `status.newVmid` alone.
    pub fn planned_new_vmid(&self) -> Option<u32> {
        let hash = self.hash();
        self.w
            .status
            .disks
            .iter()
            .filter_map(|d| naming::copy_owner_vmid(&d.clone_path, &hash))
            .find(|v| *v != self.vmid())
    }

    /// The marker written into the description of a VM this object creates.
    pub fn marker(&self) -> naming::OwnerMarker {
        naming::OwnerMarker::of(&self.ctx.settings.cluster_id, self.obj.as_ref())
    }

    /// Client of an OntapCluster named in the plan (allow-list checked again: it may have changed).
    pub async fn ontap(&mut self, name: &str) -> Result<OntapClient, Error> {
        Ok(self.ontap_granted(name).await?.0)
    }

    /// Like [`Run::ontap`], with what that OntapCluster grants this namespace.
    pub async fn ontap_granted(&mut self, name: &str) -> Result<(OntapClient, OntapGrant), Error> {
        if let Some(c) = self.ontaps.get(name) {
            return Ok(c.clone());
        }
        let (oc, client) = backends::ontap_for(&self.ctx.backends, &self.namespace, name).await?;
        let entry = (client, OntapGrant::of(&oc, &self.namespace));
        self.ontaps.insert(name.to_owned(), entry.clone());
        Ok(entry)
    }

    /// Sets phase, Ready and message.
    pub fn set(&mut self, phase: Phase, reason: &str, message: impl Into<String>) {
        self.w.set(phase, reason, message);
    }

    pub fn set_condition(
        &mut self,
        type_: &str,
        ok: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.w.condition(type_, ok, reason, message);
    }

    /// Writes the status if it changed since the last write (with the phase and disturbed-VM metrics).
    pub async fn save(&mut self) -> Result<(), Error> {
        self.w.save().await?;
        Ok(())
    }

    pub async fn normal(&self, reason: &str, note: impl Into<String>) {
        self.ctx.normal(self.obj.as_ref(), reason, note).await
    }

    pub async fn warning(&self, reason: &str, note: impl Into<String>) {
        self.ctx.warning(self.obj.as_ref(), reason, note).await
    }
}
