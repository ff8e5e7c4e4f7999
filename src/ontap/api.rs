//! The narrow interface reconcilers use ([`OntapApi`]).

use async_trait::async_trait;

use super::error::Result;
use super::types::*;

/// ONTAP operations the controller needs. Implemented by [`super::OntapClient`]; fakes implement it in reconciler
/// unit tests. Asynchronous operations wait a bounded time and return [`Completion::InProgress`] with the job uuid
/// when the job is still running; a failed job is an error.
#[async_trait]
pub trait OntapApi: Send + Sync {
    /// `GET /api/cluster`.
    async fn cluster(&self) -> Result<ClusterInfo>;
    /// `GET /api/svm/svms`.
    async fn svms(&self) -> Result<Vec<Svm>>;
    /// `GET /api/network/ip/interfaces[?ip.address=]`.
    async fn ip_interfaces(&self, address: Option<&str>) -> Result<Vec<IpInterface>>;

    /// `GET /api/storage/volumes/{uuid}`.
    async fn volume(&self, uuid: &str) -> Result<Volume>;
    /// The volume `name` in SVM `svm`, if any.
    async fn find_volume(&self, svm: &str, name: &str) -> Result<Option<Volume>>;
    /// The volume mounted at junction `path` in SVM `svm`, if any.
    async fn find_volume_by_path(&self, svm: &str, path: &str) -> Result<Option<Volume>>;
    /// Volumes matching arbitrary ONTAP query parameters (e.g. `clone.parent_volume.uuid`).
    async fn list_volumes(&self, query: &[(&str, &str)]) -> Result<Vec<Volume>>;
    /// `POST /api/storage/volumes` with `clone.is_flexclone`.
    async fn create_flexclone(&self, spec: &FlexCloneSpec) -> Result<Completion>;
    /// `PATCH /api/storage/volumes/{uuid}`.
    async fn patch_volume(&self, uuid: &str, patch: &VolumePatch) -> Result<Completion>;
    /// `DELETE /api/storage/volumes/{uuid}`; `force` bypasses the recovery queue (ONTAP 9.12+).
    async fn delete_volume(&self, uuid: &str, force: bool) -> Result<Completion>;

    /// `volume recovery-queue show -vserver <svm>` through the private CLI passthrough.
    async fn recovery_queue(&self, svm: &str) -> Result<Vec<RecoveryQueueEntry>>;
    /// `volume recovery-queue purge -vserver <svm> -volume <queued name>`; the caller proves the entry is its own.
    async fn purge_recovery_queue(&self, svm: &str, queued_name: &str) -> Result<()>;

    async fn snapshots(&self, volume_uuid: &str) -> Result<Vec<Snapshot>>;
    async fn snapshot(&self, volume_uuid: &str, snapshot_uuid: &str) -> Result<Snapshot>;
    async fn find_snapshot(&self, volume_uuid: &str, name: &str) -> Result<Option<Snapshot>>;
    async fn create_snapshot(
        &self,
        volume_uuid: &str,
        name: &str,
        comment: Option<&str>,
    ) -> Result<Completion>;
    async fn delete_snapshot(&self, volume_uuid: &str, snapshot_uuid: &str) -> Result<Completion>;

    /// `POST /api/storage/file/clone` (paths relative to the volume root; never overwrites).
    async fn clone_file(
        &self,
        volume_uuid: &str,
        volume_name: &str,
        source: &str,
        destination: &str,
    ) -> Result<Completion>;
    /// Metadata of one file or directory.
    async fn file_info(&self, volume_uuid: &str, path: &str) -> Result<FileInfo>;
    /// Entries of a directory (without `.` and `..`); `""` is the volume root.
    async fn list_directory(&self, volume_uuid: &str, path: &str) -> Result<Vec<FileInfo>>;
    /// Creates one directory level (the parent must exist).
    async fn create_directory(
        &self,
        volume_uuid: &str,
        path: &str,
        unix_permissions: &str,
    ) -> Result<()>;
    /// Deletes a file or an empty directory (`recurse` removes a tree).
    async fn delete_file(&self, volume_uuid: &str, path: &str, recurse: bool)
        -> Result<Completion>;

    /// Current state of a job: done, still running, or the job's failure as an error. A job that no longer
    /// exists (ONTAP forgets finished jobs after minutes) is `NotFound`; the caller re-observes the object.
    async fn job_completion(&self, job_uuid: &str) -> Result<Completion>;
    /// `GET /api/cluster/jobs/{uuid}`.
    async fn job(&self, job_uuid: &str) -> Result<Job>;
    /// `PATCH /api/storage/volumes/{volume.uuid}/snapshots/{uuid}` with `comment` (async job).
    async fn set_snapshot_comment(
        &self,
        volume_uuid: &str,
        snapshot_uuid: &str,
        comment: &str,
    ) -> Result<Completion>;
}
