//! ONTAP as the reconcilers see it: the [`Ontap`] trait, the values it speaks in, and its one implementation over
//! the typed client of `crate::ontap`, where client errors become controller errors.

use std::sync::Arc;

use super::{Progress, Result};
use crate::controller::error::Error;
use crate::ontap::types::{Completion, FlexCloneSpec, Volume, VolumePatch};
use crate::ontap::OntapError;

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

/// A volume's identity and space figures in bytes (`None`: the release does not report the figure).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeUsage {
    pub name: String,
    pub uuid: String,
    pub svm: String,
    pub state: Option<String>,
    pub size: Option<u64>,
    pub used: Option<u64>,
    pub physical_used: Option<u64>,
    pub logical_used: Option<u64>,
    pub snapshot_used: Option<u64>,
    /// Whether a FlexClone has this volume as parent; `None` when the release does not say.
    pub has_flexclone: Option<bool>,
}

/// A snapshot as discovery lists it: [`SnapshotInfo`] plus its size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotDetail {
    pub uuid: String,
    pub name: String,
    pub comment: Option<String>,
    pub create_time: Option<String>,
    pub owners: Vec<String>,
    pub size: Option<u64>,
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
    /// Starts a file clone inside one volume, waiting up to ONTAP's `return_timeout`. The source may be in a
    /// snapshot (`.snapshot/<name>/<path>`); `overwrite` replaces an existing destination.
    async fn file_clone(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
        overwrite: bool,
    ) -> Result<Progress>;
    /// Looks at a job; a failed job is an error carrying ONTAP's code and message.
    async fn job(&self, uuid: &str) -> Result<Progress>;

    async fn find_volume(&self, svm: &str, name: &str) -> Result<Option<OntapVolume>>;
    /// FlexClones whose parent is `(volume uuid, snapshot name)`.
    async fn clones_of(&self, volume_uuid: &str, snapshot: &str) -> Result<Vec<OntapVolume>>;
    async fn find_snapshot(&self, volume_uuid: &str, name: &str) -> Result<Option<SnapshotInfo>>;
    /// Every snapshot of the volume, in the order ONTAP lists them.
    async fn snapshots(&self, volume_uuid: &str) -> Result<Vec<SnapshotInfo>>;
    /// Reverts the volume to a snapshot; ONTAP deletes every newer snapshot.
    async fn restore_volume(&self, volume_uuid: &str, snapshot_uuid: &str) -> Result<Progress>;
    /// Puts one file back from a snapshot over the live file.
    async fn restore_file(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        snapshot: &str,
        path: &str,
    ) -> Result<Progress>;
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
    /// One volume with its space figures (one GET).
    async fn volume_usage(&self, uuid: &str) -> Result<VolumeUsage>;
    /// Every snapshot of a volume with its size (one listing).
    async fn snapshot_details(&self, volume_uuid: &str) -> Result<Vec<SnapshotDetail>>;
    /// Every FlexClone whose parent is the volume, whatever the snapshot (one filtered listing).
    async fn clones_of_volume(&self, volume_uuid: &str) -> Result<Vec<OntapVolume>>;
}
/// ONTAP as the reconcilers hold it.
pub type OntapClient = Arc<dyn Ontap>;

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

fn snapshot_info(s: crate::ontap::types::Snapshot) -> SnapshotInfo {
    SnapshotInfo {
        uuid: s.uuid,
        name: s.name,
        comment: s.comment,
        create_time: s.create_time,
        owners: s.owners,
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
        overwrite: bool,
    ) -> Result<Progress> {
        Ok(progress(
            self.api
                .clone_file_over(volume_uuid, volume_name, source, destination, overwrite)
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
            .map(snapshot_info))
    }

    async fn snapshots(&self, volume_uuid: &str) -> Result<Vec<SnapshotInfo>> {
        Ok(self
            .api
            .snapshots(volume_uuid)
            .await?
            .into_iter()
            .map(snapshot_info)
            .collect())
    }

    async fn restore_file(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        snapshot: &str,
        path: &str,
    ) -> Result<Progress> {
        Ok(progress(
            self.api
                .restore_file(volume_uuid, volume_name, snapshot, path)
                .await?,
        ))
    }

    async fn restore_volume(&self, volume_uuid: &str, snapshot_uuid: &str) -> Result<Progress> {
        Ok(progress(
            self.api.restore_volume(volume_uuid, snapshot_uuid).await?,
        ))
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

    async fn volume_usage(&self, uuid: &str) -> Result<VolumeUsage> {
        let v = self.api.volume_usage(uuid).await?;
        let space = v.space.unwrap_or_default();
        Ok(VolumeUsage {
            svm: v.svm.and_then(|s| s.name).unwrap_or_default(),
            state: v.state,
            size: space.size,
            used: space.used,
            physical_used: space.physical_used,
            logical_used: space.logical_space.and_then(|l| l.used),
            snapshot_used: space.snapshot.and_then(|s| s.used),
            has_flexclone: v.clone.and_then(|c| c.has_flexclone),
            name: v.name,
            uuid: v.uuid,
        })
    }

    async fn snapshot_details(&self, volume_uuid: &str) -> Result<Vec<SnapshotDetail>> {
        Ok(self
            .api
            .snapshot_details(volume_uuid)
            .await?
            .into_iter()
            .map(|s| SnapshotDetail {
                uuid: s.uuid,
                name: s.name,
                comment: s.comment,
                create_time: s.create_time,
                owners: s.owners,
                size: s.size,
            })
            .collect())
    }

    async fn clones_of_volume(&self, volume_uuid: &str) -> Result<Vec<OntapVolume>> {
        Ok(self
            .api
            .list_volumes(&[("clone.parent_volume.uuid", volume_uuid)])
            .await?
            .into_iter()
            .map(ontap_volume)
            .collect())
    }
}
