//! Implements the ports over the typed HTTPS clients of `crate::proxmox` and `crate::ontap`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::backends::{ClientFactory, OntapConnect, PveConnect, PveCredentials};
use super::error::Error;
use super::ports::{
    ActiveTask, NewFlexClone, NewNfsStorage, Ontap, OntapClient, OntapFacts, OntapVolume, PowerOp,
    Progress, Pve, PveClient, PveStorage, Result, SnapshotInfo, VmConfig, VmLocation, VmState,
};
use crate::ontap::types::{Completion, FlexCloneSpec, Volume, VolumePatch};
use crate::ontap::{OntapApi, OntapConfig, OntapError};
use crate::proxmox::types::{FreezeState, ResourceType, Upid};
use crate::proxmox::types::{NfsStorageSpec, StorageConfig};
use crate::proxmox::{
    wait_for_task, ConfigUpdate, Credentials, PowerAction, ProxmoxApi, ProxmoxConfig, TaskWait,
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
    pub api: Arc<dyn ProxmoxApi>,
}

fn upid(raw: &str) -> Result<Upid> {
    Upid::parse(raw).ok_or_else(|| Error::Precondition(format!("{raw:?} is not a Proxmox task id")))
}

impl Pve for ProxmoxAdapter {
    fn version(&self) -> BoxFuture<'_, Result<String>> {
        async move { Ok(self.api.version().await?.version) }.boxed()
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        async move {
            Ok(self
                .api
                .nodes()
                .await?
                .into_iter()
                .map(|n| (n.node, n.status))
                .collect())
        }
        .boxed()
    }

    fn find_vm(&self, vmid: u32) -> BoxFuture<'_, Result<Option<VmLocation>>> {
        async move {
            let resources = self.api.cluster_resources(Some(ResourceType::Vm)).await?;
            Ok(resources
                .into_iter()
                .find(|r| r.vmid == Some(vmid) && r.kind == "qemu")
                .and_then(|r| r.node)
                .map(|node| VmLocation { node }))
        }
        .boxed()
    }

    fn vm_config<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmConfig>> {
        async move {
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
        .boxed()
    }

    fn vm_state<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmState>> {
        async move {
            let s = self.api.vm_status(node, vmid).await?;
            Ok(VmState {
                qmpstatus: s.qmpstatus.clone().unwrap_or_else(|| s.status.clone()),
                status: s.status,
                lock: s.lock,
            })
        }
        .boxed()
    }

    fn update_config<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
        set: Vec<(String, String)>,
        delete: Vec<String>,
        revert: Vec<String>,
        digest: Option<String>,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let update = ConfigUpdate {
                set,
                delete,
                revert,
                digest,
            };
            Ok(self.api.update_vm_config(node, vmid, &update).await?)
        }
        .boxed()
    }

    fn power<'a>(&'a self, node: &'a str, vmid: u32, op: PowerOp) -> BoxFuture<'a, Result<String>> {
        async move {
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
        .boxed()
    }

    fn wait_task<'a>(&'a self, raw: &'a str, budget: Duration) -> BoxFuture<'a, Result<Progress>> {
        async move {
            let upid = upid(raw)?;
            Ok(
                match wait_for_task(self.api.as_ref(), &upid, budget).await? {
                    TaskWait::Done { .. } => Progress::Done,
                    TaskWait::Running(u) => Progress::Running(u.raw),
                },
            )
        }
        .boxed()
    }

    fn fsfreeze<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<()>> {
        async move {
            self.api
                .agent_fsfreeze_freeze(node, vmid)
                .await
                .map(|_| ())
                .map_err(Into::into)
        }
        .boxed()
    }

    fn fsthaw<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<()>> {
        async move {
            self.api
                .agent_fsfreeze_thaw(node, vmid)
                .await
                .map(|_| ())
                .map_err(Into::into)
        }
        .boxed()
    }

    fn fsfreeze_status<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<String>> {
        async move {
            Ok(match self.api.agent_fsfreeze_status(node, vmid).await? {
                FreezeState::Frozen => "frozen".to_owned(),
                FreezeState::Thawed => "thawed".to_owned(),
            })
        }
        .boxed()
    }

    fn create_vm<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
        params: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<String>> {
        async move { Ok(self.api.create_vm(node, vmid, &params).await?.raw) }.boxed()
    }

    fn destroy_vm<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<String>> {
        async move { Ok(self.api.delete_vm(node, vmid, false, false).await?.raw) }.boxed()
    }

    fn storages(&self) -> BoxFuture<'_, Result<Vec<PveStorage>>> {
        async move {
            Ok(self
                .api
                .storages()
                .await?
                .into_iter()
                .map(pve_storage)
                .collect())
        }
        .boxed()
    }

    fn storage<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<PveStorage>>> {
        // From the listing, not `GET /storage/{id}`: that one needs `Datastore.Allocate`, the listing only
        // `Datastore.Audit`, so a controller that adds no storages needs no right to change them.
        async move {
            Ok(self
                .api
                .storages()
                .await?
                .into_iter()
                .find(|s| s.storage == id)
                .map(pve_storage))
        }
        .boxed()
    }

    fn create_nfs_storage<'a>(&'a self, spec: NewNfsStorage) -> BoxFuture<'a, Result<()>> {
        async move {
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
        .boxed()
    }

    fn delete_storage<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            match self.api.delete_storage(id).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn vms(&self) -> BoxFuture<'_, Result<Vec<(u32, String)>>> {
        async move {
            Ok(self
                .api
                .cluster_resources(Some(ResourceType::Vm))
                .await?
                .into_iter()
                .filter(|r| r.kind == "qemu")
                .filter_map(|r| Some((r.vmid?, r.node?)))
                .collect())
        }
        .boxed()
    }

    fn vm_config_merged<'a>(&'a self, node: &'a str, vmid: u32) -> BoxFuture<'a, Result<VmConfig>> {
        async move {
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
        .boxed()
    }

    fn vm_config_pending<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
    ) -> BoxFuture<'a, Result<VmConfig>> {
        async move {
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
        .boxed()
    }

    fn vm_all_values<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        async move {
            let entries = self.api.vm_pending(node, vmid).await?;
            let mut out = Vec::new();
            for e in entries {
                for v in [e.value_text(), e.pending_text()].into_iter().flatten() {
                    out.push((e.key.clone(), v));
                }
            }
            Ok(out)
        }
        .boxed()
    }

    fn update_storage<'a>(
        &'a self,
        id: &'a str,
        set: Vec<(String, String)>,
        delete: Vec<String>,
    ) -> BoxFuture<'a, Result<()>> {
        async move { Ok(self.api.update_storage(id, &set, &delete).await?) }.boxed()
    }

    fn active_vm_tasks<'a>(
        &'a self,
        node: &'a str,
        vmid: u32,
    ) -> BoxFuture<'a, Result<Vec<ActiveTask>>> {
        async move {
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
        .boxed()
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
    pub api: Arc<dyn OntapApi>,
}

fn progress(c: Completion) -> Progress {
    match c {
        Completion::Done => Progress::Done,
        Completion::InProgress { job_uuid } => Progress::Running(job_uuid),
    }
}

impl Ontap for OntapAdapter {
    fn facts(&self) -> BoxFuture<'_, Result<OntapFacts>> {
        async move {
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
        .boxed()
    }

    fn data_lifs(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        async move {
            Ok(self
                .api
                .ip_interfaces(None)
                .await?
                .into_iter()
                .filter(|i| i.services.is_empty() || i.services.iter().any(|s| s == "data_nfs"))
                .filter_map(|i| Some((i.ip.address?, i.svm?.name?)))
                .collect())
        }
        .boxed()
    }

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<OntapVolume>>> {
        async move {
            Ok(self
                .api
                .list_volumes(&[])
                .await?
                .into_iter()
                .map(ontap_volume)
                .collect())
        }
        .boxed()
    }

    fn file_exists<'a>(
        &'a self,
        volume_uuid: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            match self.api.file_info(volume_uuid, path).await {
                Ok(_) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn mkdir<'a>(&'a self, volume_uuid: &'a str, path: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            match self.api.create_directory(volume_uuid, path, "755").await {
                Ok(()) => Ok(()),
                Err(e) if e.is_already_exists() => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn delete_file<'a>(&'a self, volume_uuid: &'a str, path: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            match self.api.delete_file(volume_uuid, path, false).await {
                Ok(Completion::Done) => Ok(()),
                Ok(Completion::InProgress { job_uuid }) => Err(Error::Waiting(format!(
                    "deletion of {path} still running (job {job_uuid})"
                ))),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn file_clone<'a>(
        &'a self,
        volume_uuid: &'a str,
        volume_name: &'a str,
        source: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Progress>> {
        async move {
            Ok(progress(
                self.api
                    .clone_file(volume_uuid, volume_name, source, destination)
                    .await?,
            ))
        }
        .boxed()
    }

    fn job<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Progress>> {
        async move {
            match self.api.job_completion(uuid).await {
                Ok(c) => Ok(progress(c)),
                // Finished jobs are forgotten after minutes: the caller re-observes the object itself.
                Err(OntapError::NotFound { .. }) => Ok(Progress::Done),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn find_volume<'a>(
        &'a self,
        svm: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<OntapVolume>>> {
        async move { Ok(self.api.find_volume(svm, name).await?.map(ontap_volume)) }.boxed()
    }

    fn clones_of<'a>(
        &'a self,
        volume_uuid: &'a str,
        snapshot: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OntapVolume>>> {
        async move {
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
        .boxed()
    }

    fn find_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SnapshotInfo>>> {
        async move {
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
        .boxed()
    }

    fn create_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        name: &'a str,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<Progress>> {
        async move {
            Ok(progress(
                self.api
                    .create_snapshot(volume_uuid, name, Some(comment))
                    .await?,
            ))
        }
        .boxed()
    }

    fn delete_snapshot<'a>(
        &'a self,
        volume_uuid: &'a str,
        uuid: &'a str,
    ) -> BoxFuture<'a, Result<Progress>> {
        async move {
            match self.api.delete_snapshot(volume_uuid, uuid).await {
                Ok(c) => Ok(progress(c)),
                Err(e) if e.is_not_found() => Ok(Progress::Done),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn create_flexclone(&self, spec: NewFlexClone) -> BoxFuture<'_, Result<Progress>> {
        async move {
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
        .boxed()
    }

    fn patch_volume<'a>(
        &'a self,
        uuid: &'a str,
        junction: Option<String>,
        split: bool,
    ) -> BoxFuture<'a, Result<Progress>> {
        async move {
            let patch = VolumePatch {
                junction_path: junction,
                comment: None,
                split: split.then_some(true),
                state: None,
            };
            Ok(progress(self.api.patch_volume(uuid, &patch).await?))
        }
        .boxed()
    }

    fn delete_volume<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Progress>> {
        async move {
            match self.api.delete_volume(uuid, false).await {
                Ok(c) => Ok(progress(c)),
                Err(e) if e.is_not_found() => Ok(Progress::Done),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn recovery_queue<'a>(&'a self, svm: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            Ok(self
                .api
                .recovery_queue(svm)
                .await?
                .into_iter()
                .map(|e| e.volume)
                .collect())
        }
        .boxed()
    }

    fn purge_recovery_queue<'a>(
        &'a self,
        svm: &'a str,
        queued_name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            match self.api.purge_recovery_queue(svm, queued_name).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn volumes_at_paths<'a>(
        &'a self,
        svm: &'a str,
        paths: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<OntapVolume>>> {
        async move {
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
        .boxed()
    }

    fn set_snapshot_comment<'a>(
        &'a self,
        volume_uuid: &'a str,
        snapshot_uuid: &'a str,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<Progress>> {
        async move {
            Ok(progress(
                self.api
                    .set_snapshot_comment(volume_uuid, snapshot_uuid, comment)
                    .await?,
            ))
        }
        .boxed()
    }
}
