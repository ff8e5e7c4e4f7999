//! What a backend grants one namespace ([`crate::api::scope`]), checked before the first call that changes
//! anything. Every refusal is [`Error::OutOfScope`] (reason `Forbidden`) and names only what the object named
//! itself, never what lies outside its scope (VMs of other tenants are counted, not listed).

use kube::ResourceExt;

use crate::api::scope::{self, OntapScope, ProxmoxScope};
use crate::api::{OntapCluster, ProxmoxCluster};
use crate::controller::error::Error;

/// The scopes of one ProxmoxCluster for one namespace.
#[derive(Clone, Debug)]
pub struct ProxmoxGrant {
    name: String,
    namespace: String,
    scopes: Vec<ProxmoxScope>,
}

impl ProxmoxGrant {
    pub fn of(pc: &ProxmoxCluster, namespace: &str) -> Self {
        Self {
            name: pc.name_any(),
            namespace: namespace.into(),
            scopes: pc.spec.scopes.clone(),
        }
    }

    fn refuse(&self, what: String) -> Error {
        Error::OutOfScope {
            kind: "ProxmoxCluster",
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            what,
        }
    }

    /// Whether the namespace may act on VM `vmid` carrying `tags`.
    pub fn covers_vm(&self, vmid: u32, tags: &[String]) -> bool {
        scope::proxmox_allows_vm(&self.scopes, &self.namespace, vmid, tags)
    }

    /// VM `vmid` (named by the object) with the tags of its config.
    pub fn vm(&self, vmid: u32, tags_value: Option<&str>) -> Result<(), Error> {
        if self.covers_vm(vmid, &scope::parse_tags(tags_value)) {
            Ok(())
        } else {
            Err(self.refuse(format!("VM {vmid}")))
        }
    }

    /// A new VM the object would create with id `vmid`.
    pub fn new_vm(&self, vmid: u32) -> Result<(), Error> {
        if scope::proxmox_allows_new_vmid(&self.scopes, &self.namespace, vmid) {
            Ok(())
        } else {
            Err(self.refuse(format!("new VM id {vmid} (newVm.vmid)")))
        }
    }

    /// A Proxmox storage the object named or its VM's disks live on.
    pub fn storage(&self, storage: &str) -> Result<(), Error> {
        if scope::proxmox_allows_storage(&self.scopes, &self.namespace, storage) {
            Ok(())
        } else {
            Err(self.refuse(format!("Proxmox storage {storage:?}")))
        }
    }

    /// Running VMs a consistency window on `storage` would quiesce, `outside` of which lie out of scope.
    pub fn window(&self, storage: &str, outside: usize) -> Result<(), Error> {
        if outside == 0 {
            Ok(())
        } else {
            Err(self.refuse(format!(
                "{outside} running VM(s) with disks on Proxmox storage {storage:?} (a Suspend or FsFreeze \
                 window would pause or freeze them; use consistency None, or ask for them to be added)"
            )))
        }
    }
}

impl ProxmoxGrant {
    /// VMs with a disk on `storage` that a restore of it would change, `outside` of which lie out of scope: a
    /// restore reverts every VM's disks on the volume, so it needs all of them.
    pub fn restore(&self, storage: &str, outside: usize) -> Result<(), Error> {
        if outside == 0 {
            Ok(())
        } else {
            Err(self.refuse(format!(
                "{outside} VM(s) with disks on Proxmox storage {storage:?} (restoring the storage would revert \
                 their disks too)"
            )))
        }
    }
}

/// The scopes of one OntapCluster for one namespace.
#[derive(Clone, Debug)]
pub struct OntapGrant {
    name: String,
    namespace: String,
    scopes: Vec<OntapScope>,
}

impl OntapGrant {
    pub fn of(oc: &OntapCluster, namespace: &str) -> Self {
        Self {
            name: oc.name_any(),
            namespace: namespace.into(),
            scopes: oc.spec.scopes.clone(),
        }
    }

    /// Volume `volume` of SVM `svm`; `shown` is how the refusal names it (the storage it was resolved from,
    /// when the object did not name the volume itself).
    pub fn volume(
        &self,
        svm: &str,
        volume: &str,
        shown: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        if scope::ontap_allows_volume(&self.scopes, &self.namespace, svm, volume) {
            Ok(())
        } else {
            Err(Error::OutOfScope {
                kind: "OntapCluster",
                name: self.name.clone(),
                namespace: self.namespace.clone(),
                what: shown(),
            })
        }
    }
}
