//! Pure decisions of a FlexCloneMount: its identity (junction and storage id, from the spec or the UID), whether
//! a Proxmox storage is the one it added, and which storage settings to change.

use std::collections::BTreeSet;

use crate::api::common::{junction_allowed, nfs_options_allowed};
use crate::api::FlexCloneMount;
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::ports::{OntapVolume, PveStorage};

/// The Proxmox storage settings a FlexCloneMount asks for (defaults resolved).
pub struct StorageSettings {
    pub content: Vec<String>,
    pub nodes: Vec<String>,
    pub options: Option<String>,
}

impl StorageSettings {
    pub fn desired(obj: &FlexCloneMount, parent: &PveStorage) -> Self {
        Self {
            content: obj
                .spec
                .content
                .as_ref()
                .map(|c| c.iter().map(|x| x.as_str().to_owned()).collect())
                .unwrap_or_else(|| vec!["images".to_owned()]),
            nodes: obj.spec.nodes.clone().unwrap_or_default(),
            options: obj.spec.options.clone().or_else(|| parent.options.clone()),
        }
    }

    /// `(set, delete)` that turn `current` into these settings. Lists compare as sets (Proxmox may reorder).
    pub fn diff(&self, current: &PveStorage) -> (Vec<(String, String)>, Vec<String>) {
        let as_set = |v: Option<&str>| -> BTreeSet<String> {
            v.unwrap_or_default()
                .split([',', ';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut set = Vec::new();
        let mut delete = Vec::new();
        let content: BTreeSet<String> = self.content.iter().cloned().collect();
        if as_set(current.content.as_deref()) != content {
            set.push(("content".to_owned(), self.content.join(",")));
        }
        let nodes: BTreeSet<String> = self.nodes.iter().cloned().collect();
        if as_set(current.nodes.as_deref()) != nodes {
            if self.nodes.is_empty() {
                delete.push("nodes".to_owned());
            } else {
                set.push(("nodes".to_owned(), self.nodes.join(",")));
            }
        }
        if current.options.as_deref().filter(|o| !o.is_empty()) != self.options.as_deref() {
            match &self.options {
                Some(o) => set.push(("options".to_owned(), o.clone())),
                None => delete.push("options".to_owned()),
            }
        }
        (set, delete)
    }
}

/// The junction and Proxmox storage id of this object: from the spec (immutable) or derived from the UID, never
/// from status. The spec's values are checked again here (the CRD checks them at admission).
pub fn identity(obj: &FlexCloneMount, hash: &str) -> Result<(String, String), Error> {
    let junction = match &obj.spec.junction_path {
        Some(j) if !junction_allowed(j) => {
            return Err(Error::InvalidSpec(format!(
                "spec.junctionPath {j:?} must be one path component under /pveontap_fcm_ (e.g. /pveontap_fcm_web01)"
            )))
        }
        Some(j) => j.clone(),
        None => naming::clone_junction(hash),
    };
    if let Some(o) = &obj.spec.options {
        if !nfs_options_allowed(o) {
            return Err(Error::InvalidSpec(format!(
                "spec.options {o:?} has an NFS mount option outside the allow-list (vers, nconnect, max_connect, \
                 rsize, wsize, proto, timeo, retrans, hard, soft, ...), or is not a comma-separated list"
            )));
        }
    }
    let storage_id = obj
        .spec
        .storage_id
        .clone()
        .unwrap_or_else(|| naming::storage_id(hash));
    Ok((junction, storage_id))
}

/// Whether Proxmox storage `s` is the one this object added: an NFS storage on our server whose export is our
/// junction, where the volume mounted at that junction is our FlexClone (its comment carries our marker).
pub fn storage_is_ours(
    s: &PveStorage,
    server: &str,
    junction: &str,
    clone: Option<&OntapVolume>,
) -> bool {
    s.kind == "nfs"
        && s.export.as_deref() == Some(junction)
        && s.server.as_deref() == Some(server)
        && clone.is_some_and(|v| v.junction.as_deref() == Some(junction))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(content: &str, nodes: Option<&str>, options: Option<&str>) -> PveStorage {
        PveStorage {
            id: "clone".into(),
            kind: "nfs".into(),
            server: Some("192.0.2.10".into()),
            export: Some("/pvo_x".into()),
            options: options.map(str::to_owned),
            content: Some(content.into()),
            nodes: nodes.map(str::to_owned),
        }
    }

    fn settings(content: &[&str], nodes: &[&str], options: Option<&str>) -> StorageSettings {
        StorageSettings {
            content: content.iter().map(|s| (*s).to_owned()).collect(),
            nodes: nodes.iter().map(|s| (*s).to_owned()).collect(),
            options: options.map(str::to_owned),
        }
    }

    #[test]
    fn equal_settings_need_no_update_whatever_the_order() {
        let s = settings(&["iso", "images"], &["pve2", "pve1"], Some("vers=3"));
        let (set, delete) = s.diff(&current("images,iso", Some("pve1,pve2"), Some("vers=3")));
        assert!(set.is_empty() && delete.is_empty(), "{set:?} {delete:?}");
    }

    #[test]
    fn changed_settings_are_set_and_dropped_ones_deleted() {
        let s = settings(&["images", "backup"], &[], None);
        let (set, delete) = s.diff(&current("images", Some("pve1"), Some("vers=4.2")));
        assert_eq!(set, [("content".to_owned(), "images,backup".to_owned())]);
        assert_eq!(delete, ["nodes", "options"]);
        let s = settings(&["images"], &["pve2"], Some("vers=3"));
        let (set, delete) = s.diff(&current("images", None, None));
        assert_eq!(
            set,
            [
                ("nodes".to_owned(), "pve2".to_owned()),
                ("options".to_owned(), "vers=3".to_owned())
            ]
        );
        assert!(delete.is_empty());
    }
}
