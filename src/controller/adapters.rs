//! Implements the ports over the typed HTTPS clients of `crate::proxmox` and `crate::ontap`.

use std::sync::Arc;
use std::time::Duration;

use super::backends::{ClientFactory, OntapConnect, PveConnect, PveCredentials};
use super::error::Error;
use super::ports::{
    ActiveTask, NewFlexClone, NewNfsStorage, Ontap, OntapClient, OntapFacts, OntapVolume, PowerOp,
    Progress, Pve, PveClient, PveStorage, Result, SnapshotInfo, VmConfig, VmLocation, VmState,
};
use crate::ontap::types::{Completion, FlexCloneSpec, Volume, VolumePatch};
use crate::ontap::{OntapConfig, OntapError};
use crate::proxmox::types::{FreezeState, ResourceType, Upid};
use crate::proxmox::types::{NfsStorageSpec, StorageConfig};
use crate::proxmox::{
    wait_for_task, ConfigUpdate, Credentials, PowerAction, ProxmoxClient, ProxmoxConfig, TaskWait,
};
use crate::request_observer::RequestObserver;

/// Builds the real HTTPS clients, each reporting its requests to `observer` (the metrics).
#[derive(Default)]
pub struct HttpClientFactory {
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientFactory for HttpClientFactory {
    fn proxmox(&self, _name: &str, c: PveConnect) -> Result<PveClient, Error> {
        let credentials = match c.credentials {
            PveCredentials::Token(t) => Credentials::from_token(&t)?,
            PveCredentials::UserPassword { username, password } => {
                Credentials::Password { username, password }
            }
        };
        let mut config = ProxmoxConfig::new(c.endpoints, credentials);
        config.ca_bundle_pem = c.ca_pem.map(String::into_bytes);
        config.insecure_skip_tls_verify = c.insecure;
        config.observer = self.observer.clone();
        let client = crate::proxmox::ProxmoxClient::new(config)?;
        Ok(Arc::new(ProxmoxAdapter {
            api: Arc::new(client),
        }))
    }

    fn ontap(&self, _name: &str, c: OntapConnect) -> Result<OntapClient, Error> {
        let mut config = OntapConfig::new(c.endpoint, c.username, c.password);
        config.ca_bundle_pem = c.ca_pem.map(String::into_bytes);
        config.insecure_skip_tls_verify = c.insecure;
        config.observer = self.observer.clone();
        let client = crate::ontap::OntapClient::new(config)?;
        Ok(Arc::new(OntapAdapter {
            api: Arc::new(client),
        }))
    }
}

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
        let cfg = self.api.vm_config(node, vmid, false).await?;
        let pending = self.api.vm_pending(node, vmid).await?;
        let values = cfg
            .entries
            .keys()
            .filter_map(|k| cfg.get(k).map(|v| (k.clone(), v)))
            .collect();
        Ok(VmConfig {
            values,
            digest: Some(cfg.digest).filter(|d| !d.is_empty()),
            pending: pending
                .iter()
                .filter(|p| p.pending.is_some())
                .map(|p| p.key.clone())
                .collect(),
            pending_delete: pending
                .iter()
                .filter(|p| p.delete)
                .map(|p| p.key.clone())
                .collect(),
        })
    }

    async fn vm_state(&self, node: &str, vmid: u32) -> Result<VmState> {
        let s = self.api.vm_status(node, vmid).await?;
        Ok(VmState {
            qmpstatus: s.qmpstatus.clone().unwrap_or_else(|| s.status.clone()),
            status: s.status,
            lock: s.lock,
        })
    }

    async fn update_config(
        &self,
        node: &str,
        vmid: u32,
        set: Vec<(String, String)>,
        delete: Vec<String>,
        revert: Vec<String>,
        digest: Option<String>,
    ) -> Result<()> {
        let update = ConfigUpdate {
            set,
            delete,
            revert,
            digest,
        };
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

fn ontap_volume(v: Volume) -> OntapVolume {
    let clone = v.clone.clone().unwrap_or_default();
    OntapVolume {
        svm: v.svm_name().unwrap_or_default().to_owned(),
        junction: v.junction_path().map(str::to_owned),
        is_flexclone: clone.is_flexclone,
        clone_parent_volume: clone.parent_volume.and_then(|p| p.name),
        clone_parent_snapshot: clone.parent_snapshot.and_then(|p| p.name),
        name: v.name,
        uuid: v.uuid,
        comment: v.comment,
    }
}

pub struct OntapAdapter {
    pub api: Arc<crate::ontap::OntapClient>,
}

fn progress(c: Completion) -> Progress {
    match c {
        Completion::Done => Progress::Done,
        Completion::InProgress { job_uuid } => Progress::Running(job_uuid),
    }
}

#[async_trait::async_trait]
impl Ontap for OntapAdapter {
    async fn facts(&self) -> Result<OntapFacts> {
        let c = self.api.cluster().await?;
        let svms = self.api.svms().await?;
        Ok(OntapFacts {
            version: c.version_string().unwrap_or_else(|| "unknown".into()),
            name: c.name,
            uuid: c.uuid,
            svms: svms
                .into_iter()
                .map(|s| (s.name, s.uuid, s.state))
                .collect(),
        })
    }

    async fn data_lifs(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .api
            .ip_interfaces(None)
            .await?
            .into_iter()
            .filter(|i| i.services.is_empty() || i.services.iter().any(|s| s == "data_nfs"))
            .filter_map(|i| Some((i.ip.address?, i.svm?.name?)))
            .collect())
    }

    async fn volumes(&self) -> Result<Vec<OntapVolume>> {
        Ok(self
            .api
            .list_volumes(&[])
            .await?
            .into_iter()
            .map(ontap_volume)
            .collect())
    }

    async fn file_exists(&self, volume_uuid: &str, path: &str) -> Result<bool> {
        match self.api.file_info(volume_uuid, path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn mkdir(&self, volume_uuid: &str, path: &str) -> Result<()> {
        match self.api.create_directory(volume_uuid, path, "755").await {
            Ok(()) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_file(&self, volume_uuid: &str, path: &str) -> Result<()> {
        match self.api.delete_file(volume_uuid, path, false).await {
            Ok(Completion::Done) => Ok(()),
            Ok(Completion::InProgress { job_uuid }) => Err(Error::Waiting(format!(
                "deletion of {path} still running (job {job_uuid})"
            ))),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn file_clone(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
    ) -> Result<Progress> {
        Ok(progress(
            self.api
                .clone_file(volume_uuid, volume_name, source, destination)
                .await?,
        ))
    }

    async fn job(&self, uuid: &str) -> Result<Progress> {
        match self.api.job_completion(uuid).await {
            Ok(c) => Ok(progress(c)),
            // Finished jobs are forgotten after minutes: the caller re-observes the object itself.
            Err(OntapError::NotFound { .. }) => Ok(Progress::Done),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_volume(&self, svm: &str, name: &str) -> Result<Option<OntapVolume>> {
        Ok(self.api.find_volume(svm, name).await?.map(ontap_volume))
    }

    async fn clones_of(&self, volume_uuid: &str, snapshot: &str) -> Result<Vec<OntapVolume>> {
        let q = [
            ("clone.parent_volume.uuid", volume_uuid),
            ("clone.parent_snapshot.name", snapshot),
        ];
        Ok(self
            .api
            .list_volumes(&q)
            .await?
            .into_iter()
            .map(ontap_volume)
            .collect())
    }

    async fn find_snapshot(&self, volume_uuid: &str, name: &str) -> Result<Option<SnapshotInfo>> {
        Ok(self
            .api
            .find_snapshot(volume_uuid, name)
            .await?
            .map(|s| SnapshotInfo {
                uuid: s.uuid,
                name: s.name,
                comment: s.comment,
                create_time: s.create_time,
                owners: s.owners,
            }))
    }

    async fn create_snapshot(
        &self,
        volume_uuid: &str,
        name: &str,
        comment: &str,
    ) -> Result<Progress> {
        Ok(progress(
            self.api
                .create_snapshot(volume_uuid, name, Some(comment))
                .await?,
        ))
    }

    async fn delete_snapshot(&self, volume_uuid: &str, uuid: &str) -> Result<Progress> {
        match self.api.delete_snapshot(volume_uuid, uuid).await {
            Ok(c) => Ok(progress(c)),
            Err(e) if e.is_not_found() => Ok(Progress::Done),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_flexclone(&self, spec: NewFlexClone) -> Result<Progress> {
        let spec = FlexCloneSpec {
            name: spec.name,
            svm: spec.svm,
            parent_volume: spec.parent_volume,
            parent_snapshot: spec.parent_snapshot,
            junction_path: Some(spec.junction),
            comment: Some(spec.comment),
        };
        Ok(progress(self.api.create_flexclone(&spec).await?))
    }

    async fn patch_volume(
        &self,
        uuid: &str,
        junction: Option<String>,
        split: bool,
    ) -> Result<Progress> {
        let patch = VolumePatch {
            junction_path: junction,
            comment: None,
            split: split.then_some(true),
            state: None,
        };
        Ok(progress(self.api.patch_volume(uuid, &patch).await?))
    }

    async fn delete_volume(&self, uuid: &str) -> Result<Progress> {
        match self.api.delete_volume(uuid, false).await {
            Ok(c) => Ok(progress(c)),
            Err(e) if e.is_not_found() => Ok(Progress::Done),
            Err(e) => Err(e.into()),
        }
    }

    async fn recovery_queue(&self, svm: &str) -> Result<Vec<String>> {
        Ok(self
            .api
            .recovery_queue(svm)
            .await?
            .into_iter()
            .map(|e| e.volume)
            .collect())
    }

    async fn purge_recovery_queue(&self, svm: &str, queued_name: &str) -> Result<()> {
        match self.api.purge_recovery_queue(svm, queued_name).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn volumes_at_paths(&self, svm: &str, paths: &[String]) -> Result<Vec<OntapVolume>> {
        // `|` separates alternatives in an ONTAP query; `*` would be a wildcard.
        if paths.is_empty() || paths.iter().any(|p| p.contains(['|', '*'])) {
            return Ok(Vec::new());
        }
        let alternatives = paths.join("|");
        let q = [("svm.name", svm), ("nas.path", alternatives.as_str())];
        Ok(self
            .api
            .list_volumes(&q)
            .await?
            .into_iter()
            .map(ontap_volume)
            .collect())
    }

    async fn set_snapshot_comment(
        &self,
        volume_uuid: &str,
        snapshot_uuid: &str,
        comment: &str,
    ) -> Result<Progress> {
        Ok(progress(
            self.api
                .set_snapshot_comment(volume_uuid, snapshot_uuid, comment)
                .await?,
        ))
    }
}
