//! The narrow views of Proxmox VE and ONTAP the reconcilers work with. `adapters` implements them over the
//! typed clients of `crate::proxmox` / `crate::ontap`; errors arrive already classified as [`Error`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::error::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// Outcome of waiting for a Proxmox task or an ONTAP job for a bounded time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Done,
    /// Still running; the id to look at next time.
    Running(String),
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
    /// Synchronous config update (`PUT .../config`).
    async fn update_config(
        &self,
        node: &str,
        vmid: u32,
        set: Vec<(String, String)>,
        delete: Vec<String>,
        revert: Vec<String>,
        digest: Option<String>,
    ) -> Result<()>;
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNfsStorage {
    pub id: String,
    pub server: String,
    pub export: String,
    pub content: Vec<String>,
    pub nodes: Vec<String>,
    pub options: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OntapVolume {
    pub svm: String,
    pub name: String,
    pub uuid: String,
    /// `nas.path`; `None` when unmounted.
    pub junction: Option<String>,
    pub comment: Option<String>,
    pub is_flexclone: bool,
    pub clone_parent_volume: Option<String>,
    pub clone_parent_snapshot: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub uuid: String,
    pub name: String,
    pub comment: Option<String>,
    pub create_time: Option<String>,
    pub owners: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFlexClone {
    pub name: String,
    pub svm: String,
    pub parent_volume: String,
    pub parent_snapshot: String,
    pub junction: String,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OntapFacts {
    pub name: String,
    pub uuid: String,
    pub version: String,
    /// `(name, uuid, state)`
    pub svms: Vec<(String, String, Option<String>)>,
}

#[async_trait::async_trait]
pub trait Ontap: Send + Sync {
    async fn facts(&self) -> Result<OntapFacts>;
    /// `(address, svm)` of every data LIF serving NFS.
    async fn data_lifs(&self) -> Result<Vec<(String, String)>>;
    async fn volumes(&self) -> Result<Vec<OntapVolume>>;
    /// Whether a file or directory exists (a lookup error is an error, never `false`).
    async fn file_exists(&self, volume_uuid: &str, path: &str) -> Result<bool>;
    /// Creates one directory level; an existing directory counts as done.
    async fn mkdir(&self, volume_uuid: &str, path: &str) -> Result<()>;
    /// Deletes a file (or an empty directory); a missing one counts as done.
    async fn delete_file(&self, volume_uuid: &str, path: &str) -> Result<()>;
    /// Starts a file clone inside one volume, waiting up to ONTAP's `return_timeout`.
    async fn file_clone(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
    ) -> Result<Progress>;
    /// Looks at a job; a failed job is an error carrying ONTAP's code and message.
    async fn job(&self, uuid: &str) -> Result<Progress>;

    async fn find_volume(&self, svm: &str, name: &str) -> Result<Option<OntapVolume>>;
    /// FlexClones whose parent is `(volume uuid, snapshot name)`.
    async fn clones_of(&self, volume_uuid: &str, snapshot: &str) -> Result<Vec<OntapVolume>>;
    async fn find_snapshot(&self, volume_uuid: &str, name: &str) -> Result<Option<SnapshotInfo>>;
    async fn create_snapshot(
        &self,
        volume_uuid: &str,
        name: &str,
        comment: &str,
    ) -> Result<Progress>;
    /// Deletes a snapshot; a missing one counts as done.
    async fn delete_snapshot(&self, volume_uuid: &str, uuid: &str) -> Result<Progress>;
    async fn create_flexclone(&self, spec: NewFlexClone) -> Result<Progress>;
    /// Mounts (`Some(path)`) or unmounts (`Some("")`) a volume and/or starts a split.
    async fn patch_volume(
        &self,
        uuid: &str,
        junction: Option<String>,
        split: bool,
    ) -> Result<Progress>;
    /// Deletes a volume; a missing one counts as done.
    async fn delete_volume(&self, uuid: &str) -> Result<Progress>;
    /// Names of deleted volumes still in the SVM's recovery queue.
    async fn recovery_queue(&self, svm: &str) -> Result<Vec<String>>;
    async fn purge_recovery_queue(&self, svm: &str, queued_name: &str) -> Result<()>;
    /// Volumes of `svm` mounted at any of `paths` (one filtered query, ONTAP matches `nas.path`
    /// case-insensitively); no listing of every volume.
    async fn volumes_at_paths(&self, svm: &str, paths: &[String]) -> Result<Vec<OntapVolume>>;
    /// Replaces a snapshot's comment (`PATCH .../snapshots/{uuid}`).
    async fn set_snapshot_comment(
        &self,
        volume_uuid: &str,
        snapshot_uuid: &str,
        comment: &str,
    ) -> Result<Progress>;
}

/// A Proxmox task still running, as the node's task list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveTask {
    pub upid: String,
    /// Task type, e.g. `qmshutdown`.
    pub kind: String,
}

pub type PveClient = Arc<dyn Pve>;
pub type OntapClient = Arc<dyn Ontap>;
