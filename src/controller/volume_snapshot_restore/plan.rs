//! Pure decisions of a VolumeSnapshotRestore: which snapshots a restore destroys, whether the user confirmed
//! exactly those, which VMs must be stopped, and where a VM's disk files live on the volume.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::volume_snapshot_restore::{ConfirmedSnapshot, PlannedSnapshot};
use crate::controller::ports::SnapshotInfo;
use crate::controller::vm_disk_clone::plan as drives;

/// The target snapshot and every snapshot that may be newer than it (oldest first): the ones ONTAP deletes when
/// restoring. ONTAP reports creation times in whole seconds and lists snapshots in no documented order, so a
/// snapshot of the same second as the target cannot be told older or newer: it is counted as newer, and so is
/// listed (and must be confirmed) rather than destroyed unannounced. `None` when the target is gone.
pub fn split_at_target(
    list: Vec<SnapshotInfo>,
    target: &str,
) -> Option<(SnapshotInfo, Vec<SnapshotInfo>)> {
    let second = |s: &SnapshotInfo| {
        s.create_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let target = list.iter().find(|s| s.name == target)?.clone();
    let at = second(&target);
    let mut newer: Vec<SnapshotInfo> = list
        .into_iter()
        // A snapshot without a creation time could be anything: counted as newer too.
        .filter(|s| {
            s.name != target.name
                && match (at, second(s)) {
                    (Some(at), Some(t)) => t >= at,
                    _ => true,
                }
        })
        .collect();
    newer.sort_by(|a, b| (second(a), &a.name).cmp(&(second(b), &b.name)));
    Some((target, newer))
}

/// `Err(message)` unless `confirmed` is exactly the set of snapshots `destroys` names.
pub fn confirmation(
    confirmed: &[ConfirmedSnapshot],
    destroys: &[PlannedSnapshot],
) -> Result<(), String> {
    let want: BTreeSet<&str> = destroys.iter().map(|s| s.name.as_str()).collect();
    let have: BTreeSet<&str> = confirmed.iter().map(|c| c.0.as_str()).collect();
    if want == have {
        return Ok(());
    }
    let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
    let mut msg = format!(
        "the restore destroys {} newer snapshot(s): {}; nothing is changed until spec.confirmDestroy lists exactly \
         these",
        want.len(),
        list(&want)
    );
    if !have.is_empty() {
        msg.push_str(&format!(" (it lists {})", list(&have)));
    }
    Err(msg)
}

/// Newer snapshots the user did not confirm: once the restore was requested, snapshots may already be gone,
/// but none may have appeared that nobody confirmed.
pub fn unconfirmed<'a>(confirmed: &[ConfirmedSnapshot], newer: &'a [SnapshotInfo]) -> Vec<&'a str> {
    newer
        .iter()
        .filter(|s| !confirmed.iter().any(|c| c.0 == s.name))
        .map(|s| s.name.as_str())
        .collect()
}

/// The disks (and unused volumes, state files) of a VM's config values that live on `storage`, as
/// `(key, volume)`; a key with a pending change may appear twice.
pub fn disks_on(values: &[(String, String)], storage: &str) -> Vec<(String, String)> {
    let prefix = format!("{storage}:");
    values
        .iter()
        .filter(|(k, _)| drives::is_disk_key(k) || k.starts_with("unused") || k == "vmstate")
        .filter_map(|(k, v)| {
            let d = drives::parse_drive(v);
            (!d.media_cdrom && d.volume.starts_with(&prefix)).then(|| (k.clone(), d.volume))
        })
        .collect()
}

/// Drive entries to set (`key`, `value`) and drive keys to detach.
pub type ConfigChanges = (Vec<(String, String)>, Vec<String>);

/// What `restoreConfig` writes to VM `vmid`: the recorded drive entries to set and the drive keys on the storage
/// the VM has now but had not then, to detach (Proxmox keeps a detached disk as `unusedN`, its file untouched).
/// Recorded entries come from a VolumeSnapshot's status, which its writers can change, so each must be a drive
/// key whose volume is one of this VM's own files on `storage` that the snapshot holds (`held`).
pub fn config_changes(
    recorded: &BTreeMap<String, String>,
    current: &[(String, String)],
    storage: &str,
    vmid: u32,
    held: &[String],
) -> Result<ConfigChanges, String> {
    let own = format!("{storage}:{vmid}/");
    let mut set = Vec::new();
    for (key, value) in recorded.iter().filter(|(k, _)| !k.starts_with("unused")) {
        let volume = drives::parse_drive(value).volume;
        let path = file_path(&volume);
        if !drives::is_disk_key(key)
            || !volume.starts_with(&own)
            || !path.as_ref().is_some_and(|p| held.contains(p))
        {
            return Err(format!(
                "the recorded entry {key}={value} is not one of VM {vmid}'s disks on storage {storage} held by the \
                 snapshot"
            ));
        }
        set.push((key.clone(), value.clone()));
    }
    let mut detach: Vec<String> = current
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !k.starts_with("unused") && !recorded.contains_key(k))
        .collect();
    detach.dedup();
    Ok((set, detach))
}

/// Where a volume `storage:VMID/FILE` of an NFS (directory-layout) storage lives on the exported volume.
pub fn file_path(volume: &str) -> Option<String> {
    let (_, volname) = volume.split_once(':')?;
    let (vmid, file) = volname.split_once('/')?;
    let ok = !vmid.is_empty()
        && vmid.bytes().all(|b| b.is_ascii_digit())
        && !file.is_empty()
        && !file.contains('/')
        && file != ".."
        && file != ".";
    ok.then(|| format!("images/{vmid}/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, t: &str) -> SnapshotInfo {
        SnapshotInfo {
            uuid: format!("u-{name}"),
            name: name.into(),
            comment: None,
            create_time: Some(t.into()),
            owners: vec![],
        }
    }

    fn planned(names: &[&str]) -> Vec<PlannedSnapshot> {
        names
            .iter()
            .map(|n| PlannedSnapshot {
                name: (*n).into(),
                create_time: None,
                volume_snapshot: None,
            })
            .collect()
    }

    fn confirmed(names: &[&str]) -> Vec<ConfirmedSnapshot> {
        names
            .iter()
            .map(|n| ConfirmedSnapshot((*n).into()))
            .collect()
    }

    #[test]
    fn newer_snapshots_are_those_created_after_the_target() {
        let list = vec![
            snap("c", "2026-01-03T00:00:00Z"),
            snap("a", "2026-01-01T00:00:00Z"),
            snap("b", "2026-01-02T00:00:00+00:00"),
            snap("b2", "2026-01-02T00:00:00Z"),
        ];
        let (t, newer) = split_at_target(list.clone(), "b").unwrap();
        assert_eq!(t.name, "b");
        let names: Vec<_> = newer.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b2", "c"], "the same second counts as newer");
        let (_, newer) = split_at_target(list.clone(), "b2").unwrap();
        let names: Vec<_> = newer.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "c"], "the same second counts as newer");
        let (_, newer) = split_at_target(list.clone(), "c").unwrap();
        assert!(newer.is_empty());
        assert!(split_at_target(list, "gone").is_none());
    }

    #[test]
    fn confirmation_must_be_exactly_the_destroyed_set() {
        assert!(confirmation(&[], &[]).is_ok());
        assert!(confirmation(&confirmed(&["y", "x"]), &planned(&["x", "y"])).is_ok());
        let e = confirmation(&[], &planned(&["x", "y"])).unwrap_err();
        assert!(e.contains("destroys 2 newer snapshot(s): x, y"), "{e}");
        let e = confirmation(&confirmed(&["x"]), &planned(&["x", "y"])).unwrap_err();
        assert!(e.ends_with("(it lists x)"), "{e}");
        // Confirming more than is destroyed is no confirmation either: the set changed.
        assert!(confirmation(&confirmed(&["x", "z"]), &planned(&["x"])).is_err());
        assert!(confirmation(&confirmed(&["x"]), &[]).is_err());
    }

    #[test]
    fn after_the_request_only_new_unconfirmed_snapshots_count() {
        let newer = vec![
            snap("x", "2026-01-01T00:00:00Z"),
            snap("late", "2026-01-02T00:00:00Z"),
        ];
        assert_eq!(unconfirmed(&confirmed(&["x", "y"]), &newer), ["late"]);
        assert!(unconfirmed(&confirmed(&["x"]), &newer[..1]).is_empty());
    }

    #[test]
    fn recorded_config_is_only_the_vms_own_held_disks() {
        let rec = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let held = vec!["images/100/vm-100-disk-0.qcow2".to_owned()];
        let current = vec![
            (
                "scsi0".to_owned(),
                "ONTAP01:100/vm-100-disk-0.qcow2".to_owned(),
            ),
            (
                "scsi1".to_owned(),
                "ONTAP01:100/vm-100-disk-9.raw".to_owned(),
            ),
            (
                "unused0".to_owned(),
                "ONTAP01:100/vm-100-disk-7.raw".to_owned(),
            ),
        ];
        let recorded = rec(&[
            ("scsi0", "ONTAP01:100/vm-100-disk-0.qcow2,size=32G"),
            ("unused1", "ONTAP01:100/old.raw"),
        ]);
        let (set, detach) = config_changes(&recorded, &current, "ONTAP01", 100, &held).unwrap();
        assert_eq!(
            set,
            [(
                "scsi0".to_owned(),
                "ONTAP01:100/vm-100-disk-0.qcow2,size=32G".to_owned()
            )]
        );
        assert_eq!(detach, ["scsi1"]);
        for forged in [
            rec(&[("scsi0", "ONTAP01:200/vm-200-disk-0.raw")]),
            rec(&[("scsi0", "other:100/vm-100-disk-0.qcow2")]),
            rec(&[("scsi0", "ONTAP01:100/not-held.raw")]),
            rec(&[("hookscript", "ONTAP01:100/vm-100-disk-0.qcow2")]),
            rec(&[("scsi0", "/dev/sda")]),
        ] {
            assert!(
                config_changes(&forged, &current, "ONTAP01", 100, &held).is_err(),
                "{forged:?}"
            );
        }
    }

    #[test]
    fn disks_on_a_storage_and_their_files() {
        let values: Vec<(String, String)> = [
            ("scsi0", "ONTAP01:100/vm-100-disk-0.qcow2,size=32G"),
            ("scsi1", "other:100/vm-100-disk-1.raw"),
            ("ide2", "ONTAP01:iso/x.iso,media=cdrom"),
            ("unused0", "ONTAP01:100/vm-100-disk-9.raw"),
            ("efidisk0", "ONTAP01:100/vm-100-disk-2.raw,efitype=4m"),
            ("name", "ONTAP01:not-a-disk"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let on = disks_on(&values, "ONTAP01");
        let keys: Vec<_> = on.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["scsi0", "unused0", "efidisk0"]);
        assert_eq!(
            file_path(&on[0].1).as_deref(),
            Some("images/100/vm-100-disk-0.qcow2")
        );
        assert_eq!(file_path("ONTAP01:100/../etc"), None);
        assert_eq!(file_path("ONTAP01:x/y"), None);
        assert_eq!(file_path("ONTAP01:iso/x.iso"), None);
    }
}
