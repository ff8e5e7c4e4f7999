//! Pure: the name of a storage's OntapStorage, who manages each snapshot, what the status says.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::api::ontap_storage::{
    CloneDependent, DiscoveredSnapshot, ManagingObject, SnapshotOrigin, StorageSpace,
};
use crate::controller::naming::OwnerMarker;
use crate::controller::ports::{OntapVolume, SnapshotDetail, VolumeUsage};

/// Longest Kubernetes object name (a DNS subdomain).
const NAME_MAX: usize = 253;

/// `<ProxmoxCluster>.<storage>` in the characters a Kubernetes name allows (lower case, `_` → `-`).
fn base_name(pve: &str, storage: &str) -> String {
    let storage: String = storage
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    format!("{pve}.{storage}")
}

fn short_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..8].to_owned()
}

/// The OntapStorage name of each storage id of one ProxmoxCluster: `<ProxmoxCluster>.<storage>` lower-cased.
/// Storage ids are case-sensitive and may hold `_`, so two of them can give the same name; those (and names too
/// long for Kubernetes) get a hash of the exact id appended instead of one silently replacing the other.
pub fn object_names<'a>(
    pve: &str,
    storages: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    let ids: Vec<&str> = storages.into_iter().collect();
    let mut count: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        *count.entry(base_name(pve, id)).or_default() += 1;
    }
    ids.into_iter()
        .map(|id| {
            let base = base_name(pve, id);
            let name = if count[&base] > 1 || base.len() > NAME_MAX {
                let mut cut = base.len().min(NAME_MAX - 9);
                while !base.is_char_boundary(cut) {
                    cut -= 1;
                }
                let head = base[..cut].trim_end_matches(['-', '.']);
                format!("{head}-{}", short_hash(id))
            } else {
                base
            };
            (id.to_owned(), name)
        })
        .collect()
}

/// The objects of this Kubernetes cluster that can stand behind a snapshot, and the cluster part of our markers.
#[derive(Clone, Debug, Default)]
pub struct Owners {
    /// [`crate::controller::naming::marker_cluster`] of this cluster.
    pub our_cluster: String,
    /// VolumeSnapshots and VmDiskClones by UID (the UID in a marker).
    pub by_uid: HashMap<String, ManagingObject>,
    /// VolumeSnapshots by the uuid of the snapshot their status names (adopted ones carry no marker).
    pub by_snapshot_uuid: HashMap<String, (ManagingObject, bool)>,
    /// FlexCloneMounts by UID, as `namespace/name`.
    pub mounts: HashMap<String, String>,
}

impl Owners {
    /// Who stands behind a snapshot: our marker naming a live object, a VolumeSnapshot whose status names it,
    /// our marker with the object gone, another cluster's marker, or nobody.
    pub fn classify(
        &self,
        comment: Option<&str>,
        uuid: &str,
    ) -> (SnapshotOrigin, Option<ManagingObject>) {
        let marker = comment.and_then(OwnerMarker::parse);
        let ours = marker.as_ref().filter(|m| m.cluster == self.our_cluster);
        if let Some(obj) = ours.and_then(|m| self.by_uid.get(&m.uid)) {
            return (SnapshotOrigin::Managed, Some(obj.clone()));
        }
        if let Some((obj, adopted)) = self.by_snapshot_uuid.get(uuid) {
            let origin = if *adopted {
                SnapshotOrigin::Adopted
            } else {
                SnapshotOrigin::Managed
            };
            return (origin, Some(obj.clone()));
        }
        match (ours.is_some(), marker.is_some()) {
            (true, _) => (SnapshotOrigin::Orphaned, None),
            (false, true) => (SnapshotOrigin::OtherCluster, None),
            (false, false) => (SnapshotOrigin::Unmanaged, None),
        }
    }

    /// The FlexCloneMount of ours that made clone volume `v`, by the marker in its comment.
    fn mount_of(&self, v: &OntapVolume) -> Option<String> {
        let m = v.comment.as_deref().and_then(OwnerMarker::parse)?;
        (m.cluster == self.our_cluster)
            .then(|| self.mounts.get(&m.uid).cloned())
            .flatten()
    }
}

/// Every snapshot with its origin and dependents, oldest first (by ONTAP's create time, then name).
pub fn snapshots(
    details: &[SnapshotDetail],
    clones: &[OntapVolume],
    owners: &Owners,
) -> Vec<DiscoveredSnapshot> {
    let mut out: Vec<DiscoveredSnapshot> = details
        .iter()
        .map(|s| {
            let (origin, managed_by) = owners.classify(s.comment.as_deref(), &s.uuid);
            let mut flex_clones: Vec<CloneDependent> = clones
                .iter()
                .filter(|c| c.clone_parent_snapshot.as_deref() == Some(s.name.as_str()))
                .map(|c| CloneDependent {
                    volume: c.name.clone(),
                    flex_clone_mount: owners.mount_of(c),
                })
                .collect();
            flex_clones.sort_by(|a, b| a.volume.cmp(&b.volume));
            DiscoveredSnapshot {
                name: s.name.clone(),
                uuid: s.uuid.clone(),
                create_time: s.create_time.clone(),
                size_bytes: s.size,
                comment: s.comment.clone(),
                origin,
                managed_by,
                ontap_owners: s.owners.clone(),
                flex_clones,
            }
        })
        .collect();
    let time = |s: &DiscoveredSnapshot| {
        s.create_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    out.sort_by(|a, b| time(a).cmp(&time(b)).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Whether the volume's FlexClones must be listed: ONTAP says it has some, or (a release without
/// `clone.has_flexclone`) a snapshot is held by one.
pub fn needs_clone_listing(usage: &VolumeUsage, details: &[SnapshotDetail]) -> bool {
    usage.has_flexclone.unwrap_or_else(|| {
        details
            .iter()
            .any(|s| s.owners.iter().any(|o| o.starts_with("volume_clone")))
    })
}

/// Snapshots no object here manages.
pub fn unmanaged(snapshots: &[DiscoveredSnapshot]) -> u32 {
    snapshots
        .iter()
        .filter(|s| !matches!(s.origin, SnapshotOrigin::Managed | SnapshotOrigin::Adopted))
        .count() as u32
}

/// ONTAP's space figures, with what sharing saved: logical use minus physical use.
pub fn space(usage: &VolumeUsage) -> StorageSpace {
    let saved = match (usage.logical_used, usage.physical_used.or(usage.used)) {
        (Some(l), Some(p)) => Some(l.saturating_sub(p)),
        _ => None,
    };
    StorageSpace {
        size_bytes: usage.size,
        used_bytes: usage.used,
        physical_used_bytes: usage.physical_used,
        logical_used_bytes: usage.logical_used,
        saved_by_sharing_bytes: saved,
        snapshot_used_bytes: usage.snapshot_used,
        size: usage.size.map(human),
        used: usage.used.map(human),
        saved_by_sharing: saved.map(human),
    }
}

/// Bytes in binary units with one decimal (`512B`, `1.5Ki`, `32.0Gi`), as `kubectl get` columns show them.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

/// The one-line summary of a refreshed storage.
pub fn summary(
    volume: &str,
    svm: &str,
    space: &StorageSpace,
    snapshots: u32,
    unmanaged: u32,
) -> String {
    let mut msg = format!("volume {svm}:{volume}");
    if let (Some(used), Some(size)) = (&space.used, &space.size) {
        msg.push_str(&format!(", {used} used of {size}"));
    }
    if let Some(saved) = &space.saved_by_sharing {
        msg.push_str(&format!(", {saved} saved by sharing"));
    }
    msg.push_str(&format!(
        ", {snapshots} snapshot(s), {unmanaged} not managed here"
    ));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_collisions_get_a_hash() {
        let n = object_names("pve-a", ["ONTAP01", "nfs_b", "c"]);
        assert_eq!(n["ONTAP01"], "pve-a.ontap01");
        assert_eq!(n["nfs_b"], "pve-a.nfs-b");
        let n = object_names("pve-a", ["ONTAP01", "ontap01"]);
        assert_ne!(n["ONTAP01"], n["ontap01"]);
        assert!(
            n["ONTAP01"].starts_with("pve-a.ontap01-"),
            "{}",
            n["ONTAP01"]
        );
        let long = "x".repeat(250);
        let n = object_names(&long, ["s1"]);
        assert!(n["s1"].len() <= NAME_MAX, "{}", n["s1"].len());
    }

    fn owners() -> Owners {
        let vs = |name: &str| ManagingObject {
            kind: "VolumeSnapshot".into(),
            namespace: "ns".into(),
            name: name.into(),
            schedule: None,
        };
        Owners {
            our_cluster: crate::controller::naming::marker_cluster("c1"),
            by_uid: HashMap::from([("u1".to_owned(), vs("mine"))]),
            by_snapshot_uuid: HashMap::from([("s-adopted".to_owned(), (vs("adopter"), true))]),
            mounts: HashMap::from([("m1".to_owned(), "ns/mount".to_owned())]),
        }
    }

    fn marker(cluster: &str, uid: &str) -> String {
        OwnerMarker {
            cluster_id: cluster.into(),
            kind: "VolumeSnapshot".into(),
            namespace: "ns".into(),
            name: "x".into(),
            uid: uid.into(),
        }
        .to_comment()
    }

    #[test]
    fn origins() {
        let o = owners();
        let ours = marker("c1", "u1");
        assert_eq!(o.classify(Some(&ours), "s1").0, SnapshotOrigin::Managed);
        assert_eq!(o.classify(Some(&ours), "s1").1.unwrap().name, "mine");
        assert_eq!(o.classify(None, "s-adopted").0, SnapshotOrigin::Adopted);
        assert_eq!(
            o.classify(Some(&marker("c1", "gone")), "s2").0,
            SnapshotOrigin::Orphaned
        );
        assert_eq!(
            o.classify(Some(&marker("c2", "u1")), "s3").0,
            SnapshotOrigin::OtherCluster
        );
        assert_eq!(
            o.classify(Some("by hand"), "s4").0,
            SnapshotOrigin::Unmanaged
        );
        // A marker someone typed into the middle of a comment claims nothing.
        assert_eq!(
            o.classify(Some(&format!("{ours} not last")), "s5").0,
            SnapshotOrigin::Unmanaged
        );
    }

    #[test]
    fn snapshots_are_sorted_and_carry_their_clones() {
        let o = owners();
        let snap = |name: &str, t: &str| SnapshotDetail {
            uuid: format!("u-{name}"),
            name: name.into(),
            create_time: Some(t.into()),
            ..Default::default()
        };
        let details = vec![
            snap("b", "2025-01-02T00:00:00+00:00"),
            snap("a", "2025-01-01T00:00:00+01:00"),
        ];
        let clone = |name: &str, comment: Option<String>| OntapVolume {
            svm: "svm1".into(),
            name: name.into(),
            uuid: format!("v-{name}"),
            junction: None,
            comment,
            is_flexclone: true,
            clone_parent_volume: Some("vol".into()),
            clone_parent_snapshot: Some("b".into()),
        };
        let clones = vec![
            clone("theirs", None),
            clone("pvo_x", Some(marker("c1", "m1"))),
        ];
        let out = snapshots(&details, &clones, &o);
        assert_eq!(out[0].name, "a");
        assert!(out[0].flex_clones.is_empty());
        let deps: Vec<_> = out[1]
            .flex_clones
            .iter()
            .map(|c| (c.volume.as_str(), c.flex_clone_mount.as_deref()))
            .collect();
        assert_eq!(deps, [("pvo_x", Some("ns/mount")), ("theirs", None)]);
        assert_eq!(unmanaged(&out), 2);
    }

    #[test]
    fn space_and_sizes() {
        let u = VolumeUsage {
            size: Some(100 << 30),
            used: Some(40 << 30),
            physical_used: Some(40 << 30),
            logical_used: Some(80 << 30),
            ..Default::default()
        };
        let s = space(&u);
        assert_eq!(s.saved_by_sharing_bytes, Some(40 << 30));
        assert_eq!(s.saved_by_sharing.as_deref(), Some("40.0Gi"));
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.5Ki");
        assert_eq!(space(&VolumeUsage::default()).saved_by_sharing_bytes, None);
        assert!(needs_clone_listing(
            &VolumeUsage {
                has_flexclone: Some(true),
                ..Default::default()
            },
            &[]
        ));
        let held = SnapshotDetail {
            owners: vec!["volume_clone".into()],
            ..Default::default()
        };
        assert!(needs_clone_listing(
            &VolumeUsage::default(),
            std::slice::from_ref(&held)
        ));
        assert!(!needs_clone_listing(
            &VolumeUsage {
                has_flexclone: Some(false),
                ..Default::default()
            },
            &[held]
        ));
    }
}
