//! Names of external objects, derived from the owning object's UID.
//!
//! The suffix is a hash of the cluster id and the UID: two objects (or two Kubernetes clusters) never derive
//! the same name, and a retry after a crash derives the name it used before.

use sha2::{Digest, Sha256};

/// Length in hex digits of the hash suffix (48 bits: collisions need ~16 million objects to become likely,
/// and ownership is verified by the marker anyway).
const HASH_LEN: usize = 12;

/// Stable hash suffix for an object.
pub fn object_hash(cluster_id: &str, uid: &str) -> String {
    let mut h = Sha256::new();
    h.update(cluster_id.as_bytes());
    h.update([0u8]);
    h.update(uid.as_bytes());
    let digest = hex::encode(h.finalize());
    digest[..HASH_LEN].to_owned()
}

/// The ownership marker written as the last token of the comment of every ONTAP object we create:
/// `pveontap.io/owner=<cluster-hash>/<uid>`. Only the cluster and the UID decide (names can be reused, UIDs
/// cannot); the cluster id is hashed so the marker has a fixed size and every comment fits ONTAP's limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerMarker {
    pub cluster_id: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Text no user-supplied comment may contain (checked at admission and again by the controller), so a marker
/// in a comment is always one the controller wrote.
pub const MARKER_PREFIX: &str = crate::api::common::OWNER_MARKER_PREFIX;
/// The legacy marker (written by the first release): `pveontap.io/owner cluster=.. kind=.. object=.. uid=..`.
const LEGACY_PREFIX: &str = "pveontap.io/owner";

/// What a parsed marker names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMarker {
    /// Hash of the cluster id (legacy markers: the cluster id itself, hashed on parse).
    pub cluster: String,
    pub uid: String,
}

/// The cluster part of the markers this controller writes for Kubernetes cluster `cluster_id` (compare with
/// [`ParsedMarker::cluster`]).
pub fn marker_cluster(cluster_id: &str) -> String {
    cluster_hash(cluster_id)
}

fn cluster_hash(cluster_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(cluster_id.as_bytes()));
    digest[..HASH_LEN].to_owned()
}

impl OwnerMarker {
    /// The marker of `obj` (any of our kinds) in the Kubernetes cluster `cluster_id`.
    pub fn of<K: kube::Resource<DynamicType = ()>>(cluster_id: &str, obj: &K) -> Self {
        let meta = obj.meta();
        Self {
            cluster_id: cluster_id.to_owned(),
            kind: K::kind(&()).into_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }

    pub fn to_comment(&self) -> String {
        format!(
            "{MARKER_PREFIX}{}/{}",
            cluster_hash(&self.cluster_id),
            self.uid
        )
    }

    /// True when `comment` ends with this object's marker.
    pub fn is_owner_of(&self, comment: Option<&str>) -> bool {
        match comment.and_then(Self::parse) {
            Some(m) => m.cluster == cluster_hash(&self.cluster_id) && m.uid == self.uid,
            None => false,
        }
    }

    /// The marker of a comment: its last whitespace-separated token, whole. A marker anywhere else (e.g. inside
    /// text a user wrote) is not one: the controller always writes its marker last.
    pub fn parse(comment: &str) -> Option<ParsedMarker> {
        let tokens: Vec<&str> = comment.split_whitespace().collect();
        let last = *tokens.last()?;
        if let Some(rest) = last.strip_prefix(MARKER_PREFIX) {
            let (cluster, uid) = rest.split_once('/')?;
            let valid = |s: &str, extra: char| {
                !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
            };
            return (cluster.len() == HASH_LEN && valid(cluster, '-') && valid(uid, '-')).then(
                || ParsedMarker {
                    cluster: cluster.to_owned(),
                    uid: uid.to_owned(),
                },
            );
        }
        // Legacy: exactly the five trailing tokens the first release wrote.
        let n = tokens.len();
        if n < 5 || tokens[n - 5] != LEGACY_PREFIX {
            return None;
        }
        let field = |i: usize, key: &str| tokens[n - 4 + i].strip_prefix(key).map(str::to_owned);
        let cluster = field(0, "cluster=")?;
        field(1, "kind=")?;
        field(2, "object=")?.split_once('/')?;
        let uid = field(3, "uid=")?;
        (!cluster.is_empty() && !uid.is_empty()).then(|| ParsedMarker {
            cluster: cluster_hash(&cluster),
            uid,
        })
    }
}

/// Longest marker [`OwnerMarker::to_comment`] writes (UIDs are 36 characters), plus the separating space.
pub const MARKER_MAX_LEN: usize = MARKER_PREFIX.len() + HASH_LEN + 1 + 36 + 1;

/// ONTAP snapshot name: `pveontap_<name-prefix>_<hash>`; only `[A-Za-z0-9_]`, short.
pub fn snapshot_name(object_name: &str, hash: &str) -> String {
    format!("pveontap_{}_{hash}", sanitize_ontap(object_name, 40))
}

/// ONTAP snapshot a VmDiskClone clones several disks from, so they share one crash point.
pub fn crash_point_snapshot_name(hash: &str) -> String {
    format!("pveontap_crashpoint_{hash}")
}

/// ONTAP FlexClone volume name: letters, digits and `_` only; must start with a letter.
pub fn clone_volume_name(parent_volume: &str, hash: &str) -> String {
    format!("pvo_{}_{hash}", sanitize_ontap(parent_volume, 60))
}

/// Whether `name` is a FlexClone name [`clone_volume_name`] gives the object of `hash` (whatever the parent).
pub fn is_own_clone_name(name: &str, hash: &str) -> bool {
    name.starts_with("pvo_") && name.ends_with(&format!("_{hash}"))
}

/// Junction path of a FlexClone: directly under the SVM root so no parent junction must exist.
pub fn clone_junction(hash: &str) -> String {
    format!("/pveontap_fcm_{hash}")
}

/// Proxmox storage id of a FlexClone mount (`^[a-z][a-z0-9\-_.]*[a-z0-9]$`).
pub fn storage_id(hash: &str) -> String {
    format!("pvo-fcm-{hash}")
}

/// File name of a disk copy kept by the source VM: `vm-<vmid>-pvo-<hash>-<drive>.<fmt>`.
/// Proxmox accepts `vm-<digits>-<rest>` names and lists them as owned by the directory's VMID.
pub fn same_vm_copy_file(vmid: u32, hash: &str, drive: &str, format: &str) -> String {
    format!("vm-{vmid}-pvo-{hash}-{drive}.{format}")
}

/// The part of every copy's file name that says it is this object's: `-pvo-<hash>-`.
pub fn copy_token(hash: &str) -> String {
    format!("-pvo-{hash}-")
}

/// Whether a file path or Proxmox volume id names a copy of the object with `hash` (by its file name).
pub fn is_own_copy(path_or_volid: &str, hash: &str) -> bool {
    let file = path_or_volid.rsplit(['/', ':']).next().unwrap_or_default();
    file.starts_with("vm-") && file.contains(&copy_token(hash))
}

/// The VM a copy of the object with `hash` was made for: the `<vmid>` of `vm-<vmid>-pvo-<hash>-…` (the source VM,
/// or the new VM of `attach: NewVm`); `None` for anything that is not such a copy.
pub fn copy_owner_vmid(path_or_volid: &str, hash: &str) -> Option<u32> {
    let file = path_or_volid.rsplit(['/', ':']).next().unwrap_or_default();
    let rest = file.strip_prefix("vm-")?;
    let (vmid, rest) = rest.split_once('-')?;
    if !format!("-{rest}").starts_with(&copy_token(hash)) {
        return None;
    }
    vmid.parse().ok()
}

/// Replaces everything outside `[A-Za-z0-9_]` with `_` and truncates.
fn sanitize_ontap(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_clusters_and_uids() {
        let a = object_hash("c1", "uid-1");
        assert_eq!(a, object_hash("c1", "uid-1"));
        assert_eq!(a.len(), HASH_LEN);
        assert_ne!(a, object_hash("c2", "uid-1"));
        assert_ne!(a, object_hash("c1", "uid-2"));
        // The separator keeps ("c1","x") and ("c1x","") apart.
        assert_ne!(object_hash("c1", "x"), object_hash("c1x", ""));
    }

    #[test]
    fn names_are_valid_for_their_systems() {
        let h = object_hash("c", "u");
        let snap = snapshot_name("my-snap.v1", &h);
        assert!(
            snap.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{snap}"
        );
        let vol = clone_volume_name("pve-nfs.01", &h);
        assert!(vol.starts_with(|c: char| c.is_ascii_alphabetic()));
        assert!(
            vol.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{vol}"
        );
        let sid = storage_id(&h);
        assert!(sid.starts_with(|c: char| c.is_ascii_lowercase()));
        assert!(sid
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_eq!(
            same_vm_copy_file(100, &h, "scsi0", "qcow2"),
            format!("vm-100-pvo-{h}-scsi0.qcow2")
        );
        assert!(is_own_copy(
            &format!("images/100/vm-100-pvo-{h}-scsi0.qcow2"),
            &h
        ));
        assert!(is_own_copy(
            &format!("nfs1:100/vm-100-pvo-{h}-scsi0.qcow2"),
            &h
        ));
        assert!(!is_own_copy("images/100/vm-100-disk-0.qcow2", &h));
        assert!(!is_own_copy(
            &format!("images/100/vm-100-pvo-{h}x-scsi0.qcow2"),
            &h
        ));
        assert!(clone_junction(&h).starts_with('/') && !clone_junction(&h).ends_with('/'));
    }

    fn marker() -> OwnerMarker {
        OwnerMarker {
            cluster_id: "c1".into(),
            kind: "VolumeSnapshot".into(),
            namespace: "ns".into(),
            name: "n".into(),
            uid: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        }
    }

    #[test]
    fn marker_round_trips_and_checks_uid_and_cluster() {
        let m = marker();
        let c = m.to_comment();
        assert!(c.len() < MARKER_MAX_LEN, "{c}");
        assert!(m.is_owner_of(Some(&c)));
        assert!(m.is_owner_of(Some(&format!("user note; {c}"))));
        let other_uid = OwnerMarker {
            uid: "u2".into(),
            ..m.clone()
        };
        assert!(!other_uid.is_owner_of(Some(&c)));
        let other_cluster = OwnerMarker {
            cluster_id: "c2".into(),
            ..m.clone()
        };
        assert!(!other_cluster.is_owner_of(Some(&c)));
        assert!(!m.is_owner_of(None));
        assert!(!m.is_owner_of(Some("made by hand")));
    }

    #[test]
    fn only_the_last_whole_token_is_a_marker() {
        let m = marker();
        let c = m.to_comment();
        // A marker followed by more text, or glued to other text, is not the controller's.
        assert!(!m.is_owner_of(Some(&format!("{c} trailing"))));
        assert!(!m.is_owner_of(Some(&format!("x{c}"))));
        // A forged marker earlier in the comment cannot claim or disown: the last token decides.
        let other = OwnerMarker {
            uid: "11111111-2222-3333-4444-555555555555".into(),
            ..m.clone()
        };
        assert!(m.is_owner_of(Some(&format!("{} {c}", other.to_comment()))));
        assert!(!other.is_owner_of(Some(&format!("{} {c}", other.to_comment()))));
        assert_eq!(OwnerMarker::parse("pveontap.io/owner=x"), None);
        assert_eq!(OwnerMarker::parse(""), None);
    }

    #[test]
    fn legacy_markers_are_still_recognised() {
        let m = marker();
        let legacy = format!(
            "note pveontap.io/owner cluster=c1 kind=VolumeSnapshot object=ns/n uid={}",
            m.uid
        );
        assert!(m.is_owner_of(Some(&legacy)));
        assert!(!m.is_owner_of(Some(&format!("{legacy} more"))));
    }

    #[test]
    fn copy_owner_vmid_reads_only_own_copies() {
        let hash = "0123456789ab";
        let f = same_vm_copy_file(301, hash, "scsi0", "raw");
        assert_eq!(copy_owner_vmid(&format!("images/301/{f}"), hash), Some(301));
        assert_eq!(
            copy_owner_vmid(&format!("ONTAP01:301/{f}"), hash),
            Some(301)
        );
        assert_eq!(copy_owner_vmid("images/300/vm-300-disk-0.raw", hash), None);
        assert_eq!(
            copy_owner_vmid(&same_vm_copy_file(1, "ffffffffffff", "scsi0", "raw"), hash),
            None
        );
        assert_eq!(
            copy_owner_vmid("vm-x-pvo-0123456789ab-scsi0.raw", hash),
            None
        );
    }
}
