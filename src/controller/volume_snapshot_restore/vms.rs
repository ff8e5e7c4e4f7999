//! The VMs a restore of a storage touches: every VM with a disk on it (a restore reverts all of their disks,
//! running or not), their run state, and afterwards which of their disk files the restore took away.

use super::plan;
use crate::api::scope;
use crate::api::volume_snapshot_restore::VmMissingDisks;
use crate::controller::backends::ProxmoxGrant;
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveClient, VmState};

pub struct VmOnStorage {
    pub vmid: u32,
    pub node: String,
    pub state: VmState,
    /// `(config key, volume)` of each disk on the storage.
    pub disks: Vec<(String, String)>,
}

/// Every VM with a disk on `storage`, in vmid order. Refused (nothing touched, nothing named) when any of them
/// lies outside the scope the namespace is granted: a restore would revert its disks too.
pub async fn on_storage(
    pve: &PveClient,
    storage: &str,
    grant: &ProxmoxGrant,
) -> Result<Vec<VmOnStorage>, Error> {
    let mut out = Vec::new();
    let mut outside = 0;
    for (vmid, node) in pve.vms().await? {
        let values = pve.vm_all_values(&node, vmid).await?;
        let disks = plan::disks_on(&values, storage);
        if disks.is_empty() {
            continue;
        }
        let tags = scope::parse_tags(
            values
                .iter()
                .find(|(k, _)| k == "tags")
                .map(|(_, v)| v.as_str()),
        );
        if !grant.covers_vm(vmid, &tags) {
            outside += 1;
            continue;
        }
        let state = pve.vm_state(&node, vmid).await?;
        out.push(VmOnStorage {
            vmid,
            node,
            state,
            disks,
        });
    }
    grant.restore(storage, outside)?;
    out.sort_by_key(|v| v.vmid);
    Ok(out)
}

/// VMs whose config references a file on the volume that does not exist (after the restore: disks added since
/// the snapshot). One lookup per disk; a lookup error is an error, never "missing".
pub async fn missing_disks(
    ontap: &OntapClient,
    volume_uuid: &str,
    vms: &[VmOnStorage],
) -> Result<Vec<VmMissingDisks>, Error> {
    let mut out = Vec::new();
    for vm in vms {
        let mut gone = Vec::new();
        for (key, volume) in &vm.disks {
            let Some(path) = plan::file_path(volume) else {
                continue;
            };
            let entry = format!("{key}={volume}");
            if !gone.contains(&entry) && !ontap.file_exists(volume_uuid, &path).await? {
                gone.push(entry);
            }
        }
        if !gone.is_empty() {
            out.push(VmMissingDisks {
                vmid: vm.vmid,
                disks: gone,
            });
        }
    }
    Ok(out)
}

/// VM `vmid` for a `scope: Vm` restore: it must exist, lie inside the scope and have a disk on `storage`. Only
/// this VM's files change, so the other VMs on the storage are not looked at.
pub async fn one_vm(
    pve: &PveClient,
    storage: &str,
    vmid: u32,
    grant: &ProxmoxGrant,
) -> Result<VmOnStorage, Error> {
    let Some(loc) = pve.find_vm(vmid).await? else {
        return Err(Error::Precondition(format!("VM {vmid} does not exist")));
    };
    let values = pve.vm_all_values(&loc.node, vmid).await?;
    grant.vm(
        vmid,
        values
            .iter()
            .find(|(k, _)| k == "tags")
            .map(|(_, v)| v.as_str()),
    )?;
    let disks = plan::disks_on(&values, storage);
    if disks.is_empty() {
        return Err(Error::Precondition(format!(
            "VM {vmid} has no disk on Proxmox storage {storage:?}; nothing to restore"
        )));
    }
    let state = pve.vm_state(&loc.node, vmid).await?;
    Ok(VmOnStorage {
        vmid,
        node: loc.node,
        state,
        disks,
    })
}

/// The VM's disk files on the volume, split into those the snapshot holds and those it does not (added since).
pub async fn files_in_snapshot(
    ontap: &OntapClient,
    volume_uuid: &str,
    snapshot: &str,
    vm: &VmOnStorage,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let (mut held, mut not) = (Vec::new(), Vec::new());
    for (_, volume) in &vm.disks {
        let Some(path) = plan::file_path(volume) else {
            continue;
        };
        if held.contains(&path) || not.contains(&path) {
            continue;
        }
        if ontap
            .file_exists(volume_uuid, &format!(".snapshot/{snapshot}/{path}"))
            .await?
        {
            held.push(path);
        } else {
            not.push(path);
        }
    }
    Ok((held, not))
}
