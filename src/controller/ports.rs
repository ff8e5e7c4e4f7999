//! The narrow views of Proxmox VE and ONTAP the reconcilers work with. `adapters` implements them over the
//! typed clients of `crate::proxmox` / `crate::ontap`; errors arrive already classified as [`Error`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

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

pub trait Pve: Send + Sync {
    fn version(&self) -> BoxFuture<'_, Result<String>>;
    /// `(name, status)` of every node.
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
    /// The VM's node from `/cluster/resources`; `None` when no such VM exists.
    fn find_vm(&self, vmid: u32) -> BoxFuture<'_, Result<Option<VmLocation>>>;
    fn vm_config<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmConfig>>;
    fn vm_state<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmState>>;
    /// Synchronous config update (`PUT .../config`).
    fn update_config<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
        set: Vec<(String, String)>,
        delete: Vec<String>,
        revert: Vec<String>,
        digest: Option<String>,
    ) -> BoxFuture<'a, Result<()>>;
    /// Starts a power operation; returns the task's UPID.
    fn power<'a>(&'a self, node: &'a str, vmid: u32, op: PowerOp) -> BoxFuture<'a, Result<String>>;
    /// Waits up to `budget` for a task; a task that ended with an error exit status is an error.
    fn wait_task<'a>(&'a self, upid: &'a str, budget: Duration) -> BoxFuture<'a, Result<Progress>>;
    fn fsfreeze<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<()>>;
    fn fsthaw<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<()>>;
    /// `frozen` or `thawed`.
    fn fsfreeze_status<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<String>>;
    /// `POST /nodes/{node}/qemu`; returns the UPID.
    fn create_vm<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
        params: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<String>>;
    /// `DELETE /nodes/{node}/qemu/{vmid}`; returns the UPID.
    fn destroy_vm<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<String>>;
    fn storages(&self) -> BoxFuture<'_, Result<Vec<PveStorage>>>;
    /// One storage, from the listing (`GET /storage` needs only `Datastore.Audit`); `None` when it does not exist
    /// or is not visible to the account.
    fn storage<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<PveStorage>>>;
    fn create_nfs_storage<'a>(&'a self, spec: NewNfsStorage) -> BoxFuture<'a, Result<()>>;
    /// Removes a storage definition; a missing one counts as done.
    fn delete_storage<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// `(vmid, node)` of every QEMU VM in the cluster.
    fn vms(&self) -> BoxFuture<'_, Result<Vec<(u32, String)>>>;
    /// The config in ONE call (`GET .../config`): values with pending changes merged in and the digest;
    /// `pending`/`pending_delete` are left empty (unknown).
    fn vm_config_merged<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmConfig>>;
    /// The config in ONE call (`GET .../pending`): every key with its pending value merged in, which keys are
    /// pending and which are to be deleted; no digest.
    fn vm_config_pending<'a>(&'a self, node: &'a str, vmid: u32)
        -> BoxFuture<'a, Result<VmConfig>>;
    /// Every value the VM's config holds now or will hold after its next cold start, in ONE call
    /// (`GET .../pending`): a key with a pending change yields both its current and its pending value.
    fn vm_all_values<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>>>;
    /// `PUT /storage/{id}`: sets `set` and removes `delete` (only non-fixed options: content, nodes, options).
    fn update_storage<'a>(
        &'a self,
        id: &'a str,
        set: Vec<(String, String)>,
        delete: Vec<String>,
    ) -> BoxFuture<'a, Result<()>>;
    /// The VM's tasks still running on `node` (`GET /nodes/{node}/tasks?source=active`), oldest first.
    fn active_vm_tasks<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
    ) -> BoxFuture<'a, Result<Vec<ActiveTask>>>;
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

pub trait Ontap: Send + Sync {
    fn facts(&self) -> BoxFuture<'_, Result<OntapFacts>>;
    /// `(address, svm)` of every data LIF serving NFS.
    fn data_lifs(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
    fn volumes(&self) -> BoxFuture<'_, Result<Vec<OntapVolume>>>;
    /// Whether a file or directory exists (a lookup error is an error, never `false`).
    fn file_exists<'a>(
        &'a self,
        volume_uuid: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool>>;
    /// Creates one directory level; an existing directory counts as done.
    fn mkdir<'a>(&'a self, volume_uuid: &'a str, path: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Deletes a file (or an empty directory); a missing one counts as done.
    fn delete_file<'a>(&'a self, volume_uuid: &'a str, path: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Starts a file clone inside one volume, waiting up to ONTAP's `return_timeout`.
    fn file_clone<'a>(
        &'a self,
        volume_uuid: &'a str,
        volume_name: &'a str,
        source: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Progress>>;
    /// Looks at a job; a failed job is an error carrying ONTAP's code and message.
    fn job<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Progress>>;

    fn find_volume<'a>(
        &'a self,
        svm: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<OntapVolume>>>;
    /// FlexClones whose parent is `(volume uuid, snapshot name)`.
    fn clones_of<'a>(
        &'a self,
        volume_uuid: &'a str,
        snapshot: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OntapVolume>>>;
    fn find_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SnapshotInfo>>>;
    fn create_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        name: &'a str,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<Progress>>;
    /// Deletes a snapshot; a missing one counts as done.
    fn delete_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        uuid: &'a str,
    ) -> BoxFuture<'a, Result<Progress>>;
    fn create_flexclone(&self, spec: NewFlexClone) -> BoxFuture<'_, Result<Progress>>;
    /// Mounts (`Some(path)`) or unmounts (`Some("")`) a volume and/or starts a split.
    fn patch_volume<'a>(
        &'a self,
        uuid: &'a str,
        junction: Option<String>,
        split: bool,
    ) -> BoxFuture<'a, Result<Progress>>;
    /// Deletes a volume; a missing one counts as done.
    fn delete_volume<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Progress>>;
    /// Names of deleted volumes still in the SVM's recovery queue.
    fn recovery_queue<'a>(&'a self, svm: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;
    fn purge_recovery_queue<'a>(
        &'a self,
        svm: &'a str,
        queued_name: &'a str,
    ) -> BoxFuture<'a, Result<()>>;
    /// Volumes of `svm` mounted at any of `paths` (one filtered query, ONTAP matches `nas.path`
    /// case-insensitively); no listing of every volume.
    fn volumes_at_paths<'a>(
        &'a self,
        svm: &'a str,
        paths: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<OntapVolume>>>;
    /// Replaces a snapshot's comment (`PATCH .../snapshots/{uuid}`).
    fn set_snapshot_comment<'a>(
        &'a self,
        volume_uuid: &'a str,
        snapshot_uuid: &'a str,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<Progress>>;
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
