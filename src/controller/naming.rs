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

/// The ownership marker written into the comment of every ONTAP object we create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerMarker {
    pub cluster_id: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

const MARKER_PREFIX: &str = "pveontap.io/owner";

impl OwnerMarker {
    /// `pveontap.io/owner cluster=<id> kind=<Kind> object=<ns>/<name> uid=<uid>`
    pub fn to_comment(&self) -> String {
        format!(
            "{MARKER_PREFIX} cluster={} kind={} object={}/{} uid={}",
            self.cluster_id, self.kind, self.namespace, self.name, self.uid
        )
    }

    /// True when `comment` carries this marker. Only cluster and UID decide: names can be reused,
    /// UIDs cannot.
    pub fn is_owner_of(&self, comment: Option<&str>) -> bool {
        match comment.and_then(Self::parse) {
            Some(m) => m.cluster_id == self.cluster_id && m.uid == self.uid,
            None => false,
        }
    }

    pub fn parse(comment: &str) -> Option<Self> {
        let rest = comment.split(MARKER_PREFIX).nth(1)?;
        let mut m = OwnerMarker {
            cluster_id: String::new(),
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            uid: String::new(),
        };
        for field in rest.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            match k {
                "cluster" => m.cluster_id = v.to_owned(),
                "kind" => m.kind = v.to_owned(),
                "object" => {
                    let (ns, n) = v.split_once('/')?;
                    m.namespace = ns.to_owned();
                    m.name = n.to_owned();
                }
                "uid" => m.uid = v.to_owned(),
                _ => {}
            }
        }
        (!m.cluster_id.is_empty() && !m.uid.is_empty()).then_some(m)
    }
}

/// ONTAP snapshot name: `pveontap_<name-prefix>_<hash>`; only `[A-Za-z0-9_]`, short.
pub fn snapshot_name(object_name: &str, hash: &str) -> String {
    format!("pveontap_{}_{hash}", sanitize_ontap(object_name, 40))
}

/// ONTAP FlexClone volume name: letters, digits and `_` only; must start with a letter.
pub fn clone_volume_name(parent_volume: &str, hash: &str) -> String {
    format!("pvo_{}_{hash}", sanitize_ontap(parent_volume, 60))
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

/// File name of a disk copy attached to a new VM: PVE's own scheme `vm-<newvmid>-disk-<n>.<fmt>`.
pub fn new_vm_copy_file(new_vmid: u32, index: usize, format: &str) -> String {
    format!("vm-{new_vmid}-disk-{index}.{format}")
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
        assert_eq!(new_vm_copy_file(200, 1, "raw"), "vm-200-disk-1.raw");
        assert!(clone_junction(&h).starts_with('/') && !clone_junction(&h).ends_with('/'));
    }

    #[test]
    fn marker_round_trips_and_checks_uid_and_cluster() {
        let m = OwnerMarker {
            cluster_id: "c1".into(),
            kind: "VolumeSnapshot".into(),
            namespace: "ns".into(),
            name: "n".into(),
            uid: "u1".into(),
        };
        let c = m.to_comment();
        assert_eq!(OwnerMarker::parse(&c), Some(m.clone()));
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
}
