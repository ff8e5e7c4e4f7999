//! Proxmox VE as the reconcilers see it: the [`Pve`] trait, the values it speaks in, and its one implementation
//! over the typed client of `crate::proxmox`, where client errors become controller errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{Progress, Result};
use crate::controller::error::Error;
use crate::proxmox::types::{FreezeState, NfsStorageSpec, ResourceType, StorageConfig, Upid};
use crate::proxmox::{wait_for_task, ConfigUpdate, PowerAction, ProxmoxClient, TaskWait};

/// Where a VM lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmLocation {
    pub node: String,
}

/// A VM config as Proxmox returns it by default (pending values merged in), plus which keys are pending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmConfig {
    pub values: BTreeMap<String, String>,
    pub digest: Option<String>,
    /// Keys whose (merged) value is a pending change not yet applied to the running VM.
    pub pending: BTreeSet<String>,
    /// Keys scheduled for deletion at the next cold start.
    pub pending_delete: BTreeSet<String>,
}

/// Run state (`status/current`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmState {
    /// `running` or `stopped`.
    pub status: String,
    /// QMP state: `running`, `paused`, `suspended`, ... (equals `status` when stopped).
    pub qmpstatus: String,
    pub lock: Option<String>,
}

impl VmState {
    pub fn is_running(&self) -> bool {
        self.status == "running" && self.qmpstatus == "running"
    }
    pub fn is_paused(&self) -> bool {
        self.status == "running" && self.qmpstatus != "running"
    }
    pub fn is_stopped(&self) -> bool {
        self.status == "stopped"
    }
    /// Hibernated: stopped with its RAM in a state volume (`lock: suspended`).
    pub fn is_hibernated(&self) -> bool {
        self.is_stopped() && self.lock.as_deref() == Some("suspended")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOp {
    Start,
    Shutdown {
        timeout: Duration,
    },
    /// Pause (QMP stop).
    Suspend,
    /// Suspend to disk.
    Hibernate,
    /// Resume from pause or hibernation.
    Resume,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PveStorage {
    pub id: String,
    pub kind: String,
    pub server: Option<String>,
    pub export: Option<String>,
    pub options: Option<String>,
    pub content: Option<String>,
    /// Comma-separated nodes the storage is enabled on; `None`: all.
    pub nodes: Option<String>,
}

#[async_trait::async_trait]
pub trait Pve: Send + Sync {
    async fn version(&self) -> Result<String>;
    /// `(name, status)` of every node.
    async fn nodes(&self) -> Result<Vec<(String, String)>>;
    /// The VM's node from `/cluster/resources`; `None` when no such VM exists.
    async fn find_vm(&self, vmid: u32) -> Result<Option<VmLocation>>;
    async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfig>;
    async fn vm_state(&self, node: &str, vmid: u32) -> Result<VmState>;
    /// Synchronous config update (`PUT .../config`): keys to set, delete or revert, against the config's digest.
    async fn update_config(&self, node: &str, vmid: u32, update: ConfigUpdate) -> Result<()>;
    /// Starts a power operation; returns the task's UPID.
    async fn power(&self, node: &str, vmid: u32, op: PowerOp) -> Result<String>;
    /// Waits up to `budget` for a task; a task that ended with an error exit status is an error.
    async fn wait_task(&self, upid: &str, budget: Duration) -> Result<Progress>;
    async fn fsfreeze(&self, node: &str, vmid: u32) -> Result<()>;
    async fn fsthaw(&self, node: &str, vmid: u32) -> Result<()>;
    /// `frozen` or `thawed`.
    async fn fsfreeze_status(&self, node: &str, vmid: u32) -> Result<String>;
    /// `POST /nodes/{node}/qemu`; returns the UPID.
    async fn create_vm(
        &self,
        node: &str,
        vmid: u32,
        params: Vec<(String, String)>,
    ) -> Result<String>;
    /// `DELETE /nodes/{node}/qemu/{vmid}`; returns the UPID.
    async fn destroy_vm(&self, node: &str, vmid: u32) -> Result<String>;
    async fn storages(&self) -> Result<Vec<PveStorage>>;
    /// One storage, from the listing (`GET /storage` needs only `Datastore.Audit`); `None` when it does not exist
    /// or is not visible to the account.
    async fn storage(&self, id: &str) -> Result<Option<PveStorage>>;
    async fn create_nfs_storage(&self, spec: NewNfsStorage) -> Result<()>;
    /// Removes a storage definition; a missing one counts as done.
    async fn delete_storage(&self, id: &str) -> Result<()>;
    /// `(vmid, node)` of every QEMU VM in the cluster.
    async fn vms(&self) -> Result<Vec<(u32, String)>>;
    /// The config in ONE call (`GET .../config`): values with pending changes merged in and the digest;
    /// `pending`/`pending_delete` are left empty (unknown).
    async fn vm_config_merged(&self, node: &str, vmid: u32) -> Result<VmConfig>;
    /// The config in ONE call (`GET .../pending`): every key with its pending value merged in, which keys are
    /// pending and which are to be deleted; no digest.
    async fn vm_config_pending(&self, node: &str, vmid: u32) -> Result<VmConfig>;
    /// Every value the VM's config holds now or will hold after its next cold start, in ONE call
    /// (`GET .../pending`): a key with a pending change yields both its current and its pending value.
    async fn vm_all_values(&self, node: &str, vmid: u32) -> Result<Vec<(String, String)>>;
    /// `PUT /storage/{id}`: sets `set` and removes `delete` (only non-fixed options: content, nodes, options).
    async fn update_storage(
        &self,
        id: &str,
        set: Vec<(String, String)>,
        delete: Vec<String>,
    ) -> Result<()>;
    /// The VM's tasks still running on `node` (`GET /nodes/{node}/tasks?source=active`), oldest first.
    async fn active_vm_tasks(&self, node: &str, vmid: u32) -> Result<Vec<ActiveTask>>;
}

/// A Proxmox task still running, as the node's task list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveTask {
    pub upid: String,
    /// Task type, e.g. `qmshutdown`.
    pub kind: String,
}

/// A new NFS storage to add (`POST /storage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNfsStorage {
    pub id: String,
    pub server: String,
    pub export: String,
    pub content: Vec<String>,
    pub nodes: Vec<String>,
    pub options: Option<String>,
}

/// Proxmox VE as the reconcilers hold it.
pub type PveClient = Arc<dyn Pve>;

pub struct ProxmoxAdapter {
    pub api: Arc<ProxmoxClient>,
}

fn upid(raw: &str) -> Result<Upid> {
    Upid::parse(raw).ok_or_else(|| Error::Precondition(format!("{raw:?} is not a Proxmox task id")))
}

#[async_trait::async_trait]
impl Pve for ProxmoxAdapter {
    async fn version(&self) -> Result<String> {
        Ok(self.api.version().await?.version)
    }

    async fn nodes(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .api
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.node, n.status))
            .collect())
    }

    async fn find_vm(&self, vmid: u32) -> Result<Option<VmLocation>> {
        let resources = self.api.cluster_resources(Some(ResourceType::Vm)).await?;
        Ok(resources
            .into_iter()
            .find(|r| r.vmid == Some(vmid) && r.kind == "qemu")
            .and_then(|r| r.node)
            .map(|node| VmLocation { node }))
    }

    async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfig> {
        let mut cfg = self.vm_config_merged(node, vmid).await?;
        let pending = self.api.vm_pending(node, vmid).await?;
        cfg.pending = pending
            .iter()
            .filter(|p| p.pending.is_some())
            .map(|p| p.key.clone())
            .collect();
        cfg.pending_delete = pending
            .iter()
            .filter(|p| p.delete)
            .map(|p| p.key.clone())
            .collect();
        Ok(cfg)
    }

    async fn vm_state(&self, node: &str, vmid: u32) -> Result<VmState> {
        let s = self.api.vm_status(node, vmid).await?;
        Ok(VmState {
            qmpstatus: s.qmpstatus.clone().unwrap_or_else(|| s.status.clone()),
            status: s.status,
            lock: s.lock,
        })
    }

    async fn update_config(&self, node: &str, vmid: u32, update: ConfigUpdate) -> Result<()> {
        Ok(self.api.update_vm_config(node, vmid, &update).await?)
    }

    async fn power(&self, node: &str, vmid: u32, op: PowerOp) -> Result<String> {
        let action = match op {
            PowerOp::Start => PowerAction::Start,
            PowerOp::Shutdown { timeout } => PowerAction::Shutdown {
                timeout: Some(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX)),
                force_stop: false,
            },
            PowerOp::Suspend => PowerAction::Suspend,
            PowerOp::Hibernate => PowerAction::Hibernate,
            PowerOp::Resume => PowerAction::Resume,
        };
        Ok(self.api.vm_power(node, vmid, action).await?.raw)
    }

    async fn wait_task(&self, raw: &str, budget: Duration) -> Result<Progress> {
        let upid = upid(raw)?;
        Ok(
            match wait_for_task(self.api.as_ref(), &upid, budget).await? {
                TaskWait::Done { .. } => Progress::Done,
                TaskWait::Running(u) => Progress::Running(u.raw),
            },
        )
    }

    async fn fsfreeze(&self, node: &str, vmid: u32) -> Result<()> {
        self.api
            .agent_fsfreeze_freeze(node, vmid)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn fsthaw(&self, node: &str, vmid: u32) -> Result<()> {
        self.api
            .agent_fsfreeze_thaw(node, vmid)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn fsfreeze_status(&self, node: &str, vmid: u32) -> Result<String> {
        Ok(match self.api.agent_fsfreeze_status(node, vmid).await? {
            FreezeState::Frozen => "frozen".to_owned(),
            FreezeState::Thawed => "thawed".to_owned(),
        })
    }

    async fn create_vm(
        &self,
        node: &str,
        vmid: u32,
        params: Vec<(String, String)>,
    ) -> Result<String> {
        Ok(self.api.create_vm(node, vmid, &params).await?.raw)
    }

    async fn destroy_vm(&self, node: &str, vmid: u32) -> Result<String> {
        Ok(self.api.delete_vm(node, vmid, false, false).await?.raw)
    }

    async fn storages(&self) -> Result<Vec<PveStorage>> {
        Ok(self
            .api
            .storages()
            .await?
            .into_iter()
            .map(pve_storage)
            .collect())
    }

    async fn storage(&self, id: &str) -> Result<Option<PveStorage>> {
        // From the listing, not `GET /storage/{id}`: that one needs `Datastore.Allocate`, the listing only
        // `Datastore.Audit`, so a controller that adds no storages needs no right to change them.
        Ok(self
            .api
            .storages()
            .await?
            .into_iter()
            .find(|s| s.storage == id)
            .map(pve_storage))
    }

    async fn create_nfs_storage(&self, spec: NewNfsStorage) -> Result<()> {
        let spec = NfsStorageSpec {
            storage: spec.id,
            server: spec.server,
            export: spec.export,
            content: spec.content,
            nodes: spec.nodes,
            options: spec.options,
            path: None,
        };
        Ok(self.api.create_nfs_storage(&spec).await?)
    }

    async fn delete_storage(&self, id: &str) -> Result<()> {
        match self.api.delete_storage(id).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn vms(&self) -> Result<Vec<(u32, String)>> {
        Ok(self
            .api
            .cluster_resources(Some(ResourceType::Vm))
            .await?
            .into_iter()
            .filter(|r| r.kind == "qemu")
            .filter_map(|r| Some((r.vmid?, r.node?)))
            .collect())
    }

    async fn vm_config_merged(&self, node: &str, vmid: u32) -> Result<VmConfig> {
        let cfg = self.api.vm_config(node, vmid, false).await?;
        let values = cfg
            .entries
            .keys()
            .filter_map(|k| cfg.get(k).map(|v| (k.clone(), v)))
            .collect();
        Ok(VmConfig {
            values,
            digest: Some(cfg.digest).filter(|d| !d.is_empty()),
            ..VmConfig::default()
        })
    }

    async fn vm_config_pending(&self, node: &str, vmid: u32) -> Result<VmConfig> {
        let entries = self.api.vm_pending(node, vmid).await?;
        let mut cfg = VmConfig::default();
        for e in entries {
            if e.delete {
                cfg.pending_delete.insert(e.key.clone());
            }
            let pending = e.pending_text();
            if pending.is_some() {
                cfg.pending.insert(e.key.clone());
            }
            if let Some(v) = pending.or_else(|| e.value_text()) {
                cfg.values.insert(e.key, v);
            }
        }
        Ok(cfg)
    }

    async fn vm_all_values(&self, node: &str, vmid: u32) -> Result<Vec<(String, String)>> {
        let entries = self.api.vm_pending(node, vmid).await?;
        let mut out = Vec::new();
        for e in entries {
            for v in [e.value_text(), e.pending_text()].into_iter().flatten() {
                out.push((e.key.clone(), v));
            }
        }
        Ok(out)
    }

    async fn update_storage(
        &self,
        id: &str,
        set: Vec<(String, String)>,
        delete: Vec<String>,
    ) -> Result<()> {
        Ok(self.api.update_storage(id, &set, &delete).await?)
    }

    async fn active_vm_tasks(&self, node: &str, vmid: u32) -> Result<Vec<ActiveTask>> {
        Ok(self
            .api
            .vm_active_tasks(node, vmid)
            .await?
            .into_iter()
            .map(|t| ActiveTask {
                upid: t.upid,
                kind: t.kind,
            })
            .collect())
    }
}

fn pve_storage(s: StorageConfig) -> PveStorage {
    PveStorage {
        id: s.storage,
        kind: s.kind,
        server: s.server,
        export: s.export,
        options: s.options,
        content: s.content,
        nodes: s.nodes,
    }
}
