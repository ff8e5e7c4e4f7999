//! One crash point for several disks without touching the VM.
//!
//! File clones of a running VM's disks issued one after the other copy each disk at a different instant: a
//! database spread over two disks is then torn. When the VM is not quiesced (consistency `None`, or a freeze
//! that failed or ran out of time) and several disks are copied, each volume is snapshotted once — back to
//! back, before any clone — and every disk is cloned from its volume's snapshot (ONTAP clones a file from
//! `.snapshot/<name>/…`). The snapshots are deleted once every copy exists.
//!
//! Crash safety: each snapshot is recorded in `status.crashPointSnapshots` before it is taken; its name comes
//! from the object's UID and its comment carries the object's owner marker, so a retry finds it again and a
//! deletion removes only a snapshot whose marker is ours. A snapshot of that name without our marker refuses
//! the copy before anything is created.

use crate::api::vm_disk_clone::{CopyMechanism, CopyPoint, CrashPointSnapshot};
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::ports::Progress;

use super::run::Run;
use super::window::{clone_all, Step};

/// The point of a copy the VM was quiet for (quiesced by us, or not running).
pub fn quiet_point(mechanism: CopyMechanism) -> CopyPoint {
    let message = match mechanism {
        CopyMechanism::Quiesced => "every copy was made while the VM was quiesced",
        _ => "the VM was not running: every copy is of the same disk state",
    };
    CopyPoint {
        mechanism,
        one_point: true,
        message: message.into(),
    }
}

/// Copies every disk not copied yet at one crash point: from a short-lived snapshot of each volume when
/// several disks are copied, from the live file when there is one. Waits (across reconciles) while ONTAP takes
/// a snapshot.
pub async fn clone_at_crash_point(run: &mut Run) -> Result<Step, Error> {
    if run.w.status.disks.len() <= 1 && run.w.status.crash_point_snapshots.is_empty() {
        clone_all(run, None).await?;
        run.w.status.copy_point = Some(CopyPoint {
            mechanism: CopyMechanism::LiveFile,
            one_point: true,
            message: "one disk, cloned from the running VM's live file: crash-consistent".into(),
        });
        return Ok(Step::Done);
    }
    if run.w.status.crash_point_snapshots.is_empty() {
        plan(run);
        run.save().await?;
    }
    // All snapshots first, back to back: the volumes' points are as close together as ONTAP allows.
    for i in 0..run.w.status.crash_point_snapshots.len() {
        if let Step::Wait(w) = take(run, i).await? {
            return Ok(Step::Wait(w));
        }
    }
    let name = naming::crash_point_snapshot_name(&run.hash());
    for d in run.w.status.disks.iter_mut() {
        if !d.cloned && d.from_snapshot.is_none() {
            d.from_snapshot = Some(name.clone());
        }
    }
    clone_all(run, None).await?;
    let volumes = run.w.status.crash_point_snapshots.len();
    run.w.status.copy_point = Some(if volumes == 1 {
        CopyPoint {
            mechanism: CopyMechanism::VolumeSnapshot,
            one_point: true,
            message: format!(
                "every disk was cloned from ONTAP snapshot {name} of their volume: one crash point"
            ),
        }
    } else {
        CopyPoint {
            mechanism: CopyMechanism::VolumeSnapshots,
            one_point: false,
            message: format!(
                "the disks are on {volumes} volumes, each cloned from its own ONTAP snapshot {name}, taken one \
                 after the other: each volume's disks are one crash point, the volumes together are not; use \
                 consistency FsFreeze or Suspend for one point across volumes"
            ),
        }
    });
    Ok(Step::Done)
}

/// One snapshot per volume holding a disk still to copy.
fn plan(run: &mut Run) {
    let name = naming::crash_point_snapshot_name(&run.hash());
    let mut planned: Vec<CrashPointSnapshot> = Vec::new();
    for d in &run.w.status.disks {
        let uuid = d.ontap_volume_uuid.clone().unwrap_or_default();
        if planned.iter().any(|s| s.volume_uuid == uuid) {
            continue;
        }
        planned.push(CrashPointSnapshot {
            ontap_cluster: d.ontap_cluster.clone().unwrap_or_default(),
            volume: d.ontap_volume.clone().unwrap_or_default(),
            volume_uuid: uuid,
            name: name.clone(),
            taken: false,
        });
    }
    run.w.status.crash_point_snapshots = planned;
}

/// Takes the recorded snapshot `i` unless it exists. Creating first and looking only on a refusal keeps the
/// usual path to one call; the look tells our earlier snapshot (a status write lost) from a foreign one.
async fn take(run: &mut Run, i: usize) -> Result<Step, Error> {
    let s = run.w.status.crash_point_snapshots[i].clone();
    if s.taken {
        return Ok(Step::Done);
    }
    let ontap = run.ontap(&s.ontap_cluster).await?;
    let marker = run.marker();
    let created = ontap
        .create_snapshot(&s.volume_uuid, &s.name, &marker.to_comment())
        .await;
    match created {
        Ok(Progress::Done) => {}
        Ok(Progress::Running(_)) => {
            return Ok(Step::Wait(format!(
                "waiting for ONTAP to take snapshot {} of volume {}",
                s.name, s.volume
            )))
        }
        Err(e) => match ontap.find_snapshot(&s.volume_uuid, &s.name).await? {
            Some(found) if marker.is_owner_of(found.comment.as_deref()) => {}
            Some(_) => {
                return Err(Error::Precondition(format!(
                    "a snapshot named {} that this VmDiskClone did not create exists on ONTAP volume {}; nothing \
                     was copied: rename or delete that snapshot, or recreate this VmDiskClone",
                    s.name, s.volume
                )))
            }
            None => return Err(e),
        },
    }
    run.w.status.crash_point_snapshots[i].taken = true;
    run.save().await?;
    Ok(Step::Done)
}

/// Deletes the crash-point snapshots once no copy is still cloned from them: only a snapshot whose comment
/// carries this object's marker; a record whose snapshot is gone (or is not ours) is dropped.
pub async fn release(run: &mut Run) -> Result<Step, Error> {
    if run.w.status.crash_point_snapshots.is_empty() {
        return Ok(Step::Done);
    }
    if run
        .w
        .status
        .disks
        .iter()
        .any(|d| d.from_snapshot.is_some() && d.job_uuid.is_some())
    {
        return Ok(Step::Wait(
            "waiting for ONTAP file clones from the crash-point snapshot".into(),
        ));
    }
    let marker = run.marker();
    while let Some(s) = run.w.status.crash_point_snapshots.first().cloned() {
        let ontap = run.ontap(&s.ontap_cluster).await?;
        match ontap.find_snapshot(&s.volume_uuid, &s.name).await? {
            Some(found) if marker.is_owner_of(found.comment.as_deref()) => {
                if let Progress::Running(_) = ontap.delete_snapshot(&s.volume_uuid, &found.uuid).await? {
                    return Ok(Step::Wait(format!(
                        "waiting for ONTAP to delete snapshot {} of volume {}",
                        s.name, s.volume
                    )));
                }
            }
            Some(_) => {
                run.warning(
                    "SnapshotKept",
                    format!(
                        "snapshot {} on ONTAP volume {} does not carry this VmDiskClone's marker; it was left \
                         in place",
                        s.name, s.volume
                    ),
                )
                .await
            }
            None => {}
        }
        run.w.status.crash_point_snapshots.remove(0);
        run.save().await?;
    }
    Ok(Step::Done)
}
