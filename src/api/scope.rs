//! Per-namespace scopes of a backend: which VMs and storages of a ProxmoxCluster, which SVMs and volumes of an
//! OntapCluster, the objects of a namespace may act on.
//!
//! `allowedNamespaces` says who may use a backend at all; `scopes` narrow that down. A backend without scopes
//! grants every allowed namespace all of it. Once a backend lists scopes, a namespace acts only inside the scopes
//! that name it (their union), and an allowed namespace that no scope names may act on nothing: adding the first
//! scope can never widen anyone's access by accident. Inside a scope an absent list means "any", a present list
//! means "only these" (so an empty list means none).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    namespace_listed, ALLOWED_NAMESPACE_PATTERN, ONTAP_SVM_NAME_PATTERN, ONTAP_VOLUME_NAME_PATTERN,
    PVE_STORAGE_ID_PATTERN,
};

/// A VM id or an inclusive range of them: `250`, `100-199`.
pub const VMID_RANGE_PATTERN: &str = r"^[0-9]{1,10}(-[0-9]{1,10})?$";
/// A Proxmox tag (`pve-tag`: letters, digits, `_`, then also `-`, `+`, `.`).
pub const PVE_TAG_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_+.\-]{0,127}$";

/// What the objects of some namespaces may act on in a ProxmoxCluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxScope {
    /// Namespaces this scope is for (`"*"`: every namespace `allowedNamespaces` lets in).
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 63), regex(pattern = ALLOWED_NAMESPACE_PATTERN)))]
    pub namespaces: Vec<String>,
    /// VMs they may pause, freeze, shut down, copy disks of and attach copies to, and ids they may create new
    /// VMs with: ids or inclusive ranges (`100-199`). A VM is in scope when its id is listed here or it carries
    /// one of `tags`; with both absent every VM is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 21), regex(pattern = VMID_RANGE_PATTERN)))]
    pub vmids: Option<Vec<String>>,
    /// Proxmox tags that put a VM in scope (new VMs are placed by `vmids` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 128), regex(pattern = PVE_TAG_PATTERN)))]
    pub tags: Option<Vec<String>>,
    /// Proxmox storages they may copy disks on, snapshot, and mount snapshots of; absent: every storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN)))]
    pub storages: Option<Vec<String>>,
}

/// What the objects of some namespaces may snapshot, clone files in and FlexClone in an OntapCluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OntapScope {
    /// Namespaces this scope is for (`"*"`: every namespace `allowedNamespaces` lets in).
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 63), regex(pattern = ALLOWED_NAMESPACE_PATTERN)))]
    pub namespaces: Vec<String>,
    /// SVMs whose volumes are in scope; absent: every SVM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 47), regex(pattern = ONTAP_SVM_NAME_PATTERN)))]
    pub svms: Option<Vec<String>>,
    /// Volume names in scope (in the SVMs above); absent: every volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(max = 203), regex(pattern = ONTAP_VOLUME_NAME_PATTERN)))]
    pub volumes: Option<Vec<String>>,
}

/// The scopes that apply to `namespace`: `None` when the backend has no scopes (all of it is granted).
fn scopes_of<'a, S>(
    scopes: &'a [S],
    namespaces: impl Fn(&S) -> &[String],
    namespace: &str,
) -> Option<Vec<&'a S>> {
    if scopes.is_empty() {
        return None;
    }
    Some(
        scopes
            .iter()
            .filter(|s| namespace_listed(namespaces(s), namespace))
            .collect(),
    )
}

fn listed(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
}

/// Whether `vmid` falls in one of `ranges` (`250`, `100-199`); malformed entries match nothing.
pub fn vmid_in_ranges(ranges: &[String], vmid: u32) -> bool {
    ranges.iter().any(|r| {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        matches!((lo.parse::<u64>(), hi.parse::<u64>()), (Ok(lo), Ok(hi)) if lo <= vmid as u64 && vmid as u64 <= hi)
    })
}

/// The tags of a VM from its config's `tags` value (Proxmox separates them with `;`, and accepts `,` and spaces).
pub fn parse_tags(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ProxmoxScope {
    fn covers_vm(&self, vmid: u32, tags: &[String]) -> bool {
        match (&self.vmids, &self.tags) {
            (None, None) => true,
            (ids, ts) => {
                ids.as_deref().is_some_and(|r| vmid_in_ranges(r, vmid))
                    || ts
                        .as_deref()
                        .is_some_and(|ts| ts.iter().any(|t| tags.contains(t)))
            }
        }
    }

    fn covers_new_vmid(&self, vmid: u32) -> bool {
        match &self.vmids {
            Some(r) => vmid_in_ranges(r, vmid),
            None => self.tags.is_none(),
        }
    }
}

/// Scope checks of a ProxmoxCluster for one namespace (already admitted by `allowedNamespaces`).
pub fn proxmox_allows_vm(
    scopes: &[ProxmoxScope],
    namespace: &str,
    vmid: u32,
    tags: &[String],
) -> bool {
    scopes_of(scopes, |s| &s.namespaces, namespace)
        .is_none_or(|ss| ss.iter().any(|s| s.covers_vm(vmid, tags)))
}

/// Whether the namespace may create a new VM with id `vmid`.
pub fn proxmox_allows_new_vmid(scopes: &[ProxmoxScope], namespace: &str, vmid: u32) -> bool {
    scopes_of(scopes, |s| &s.namespaces, namespace)
        .is_none_or(|ss| ss.iter().any(|s| s.covers_new_vmid(vmid)))
}

/// Whether the namespace may use Proxmox storage `storage`.
pub fn proxmox_allows_storage(scopes: &[ProxmoxScope], namespace: &str, storage: &str) -> bool {
    scopes_of(scopes, |s| &s.namespaces, namespace)
        .is_none_or(|ss| ss.iter().any(|s| listed(&s.storages, storage)))
}

/// Whether the namespace may act on ONTAP volume `volume` of SVM `svm`.
pub fn ontap_allows_volume(
    scopes: &[OntapScope],
    namespace: &str,
    svm: &str,
    volume: &str,
) -> bool {
    scopes_of(scopes, |s| &s.namespaces, namespace).is_none_or(|ss| {
        ss.iter()
            .any(|s| listed(&s.svms, svm) && listed(&s.volumes, volume))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pscope(
        ns: &str,
        vmids: Option<&[&str]>,
        tags: Option<&[&str]>,
        storages: Option<&[&str]>,
    ) -> ProxmoxScope {
        let own = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| s.to_string()).collect());
        ProxmoxScope {
            namespaces: vec![ns.into()],
            vmids: own(vmids),
            tags: own(tags),
            storages: own(storages),
        }
    }

    #[test]
    fn no_scopes_grant_everything() {
        assert!(proxmox_allows_vm(&[], "a", 100, &[]));
        assert!(proxmox_allows_new_vmid(&[], "a", 100));
        assert!(proxmox_allows_storage(&[], "a", "s"));
        assert!(ontap_allows_volume(&[], "a", "svm", "v"));
    }

    #[test]
    fn a_namespace_no_scope_names_gets_nothing() {
        let s = [pscope("a", None, None, None)];
        assert!(proxmox_allows_vm(&s, "a", 100, &[]));
        assert!(!proxmox_allows_vm(&s, "b", 100, &[]));
        assert!(!proxmox_allows_new_vmid(&s, "b", 100));
        assert!(!proxmox_allows_storage(&s, "b", "x"));
        let o = [OntapScope {
            namespaces: vec!["a".into()],
            ..Default::default()
        }];
        assert!(!ontap_allows_volume(&o, "b", "svm", "v"));
        let all = [pscope("*", None, None, None)];
        assert!(proxmox_allows_vm(&all, "b", 100, &[]));
    }

    #[test]
    fn vms_by_range_or_tag() {
        let s = [pscope(
            "a",
            Some(&["100-199", "250"]),
            Some(&["team-a"]),
            None,
        )];
        assert!(proxmox_allows_vm(&s, "a", 100, &[]));
        assert!(proxmox_allows_vm(&s, "a", 199, &[]));
        assert!(proxmox_allows_vm(&s, "a", 250, &[]));
        assert!(!proxmox_allows_vm(&s, "a", 200, &[]));
        assert!(proxmox_allows_vm(
            &s,
            "a",
            900,
            &["x".into(), "team-a".into()]
        ));
        assert!(!proxmox_allows_vm(&s, "a", 900, &["team-b".into()]));
        // New VMs carry no tags yet: only the ranges place them.
        assert!(proxmox_allows_new_vmid(&s, "a", 150));
        assert!(!proxmox_allows_new_vmid(&s, "a", 900));
        let tags_only = [pscope("a", None, Some(&["t"]), None)];
        assert!(!proxmox_allows_new_vmid(&tags_only, "a", 150));
        let empty = [pscope("a", Some(&[]), None, Some(&[]))];
        assert!(!proxmox_allows_vm(&empty, "a", 100, &[]));
        assert!(!proxmox_allows_storage(&empty, "a", "s"));
    }

    #[test]
    fn scopes_of_one_namespace_add_up() {
        let s = [
            pscope("a", Some(&["100"]), None, Some(&["s1"])),
            pscope("a", Some(&["200"]), None, Some(&["s2"])),
        ];
        assert!(proxmox_allows_vm(&s, "a", 200, &[]));
        assert!(proxmox_allows_storage(&s, "a", "s2"));
        assert!(!proxmox_allows_storage(&s, "a", "s3"));
    }

    #[test]
    fn volumes_by_svm_and_name() {
        let o = [OntapScope {
            namespaces: vec!["a".into()],
            svms: Some(vec!["svm1".into()]),
            volumes: Some(vec!["v1".into()]),
        }];
        assert!(ontap_allows_volume(&o, "a", "svm1", "v1"));
        assert!(!ontap_allows_volume(&o, "a", "svm2", "v1"));
        assert!(!ontap_allows_volume(&o, "a", "svm1", "v2"));
    }

    #[test]
    fn ranges_and_tags_parse_strictly() {
        assert!(
            !vmid_in_ranges(&["199-100".into()], 150),
            "reversed range is empty"
        );
        assert!(!vmid_in_ranges(&["x".into()], 100));
        assert!(vmid_in_ranges(&["4294967295".into()], u32::MAX));
        assert_eq!(parse_tags(Some("a;b,c d")), ["a", "b", "c", "d"]);
        assert!(parse_tags(None).is_empty());
    }
}
