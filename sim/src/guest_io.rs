//! Guests at work: with `guestWrites: true` in the scenario, every running VM (not paused, not frozen) writes
//! once to each of its disks on an NFS storage right before each ONTAP job takes effect. Copies taken at
//! different instants then differ, and a file's `guestWrites` count (in the inventory) tells which instant a
//! copy holds: two copies of one VM's disks are of the same instant exactly when their counts are equal.

use crate::pve::drive::{is_drive_key, Drive, VolumeId};
use crate::world::World;

/// Bytes one guest write adds to a disk (a fresh extent).
const WRITE_BYTES: u64 = 4096;

/// One round of guest writes.
pub fn tick(w: &mut World) {
    let mut targets: Vec<(String, String, String)> = Vec::new();
    for vm in w.pve.vms.values() {
        if vm.power != crate::pve::scenario::PowerState::Running || vm.frozen {
            continue;
        }
        for (key, value) in &vm.config {
            if !is_drive_key(key) {
                continue;
            }
            let Ok(drive) = Drive::parse(value) else {
                continue;
            };
            if drive.is_cdrom() || drive.is_cloudinit() {
                continue;
            }
            let Ok(volid) = VolumeId::parse(&drive.file) else {
                continue;
            };
            let Some(st) = w.pve.storage(&volid.storage) else {
                continue;
            };
            if let (Some(server), Some(export)) = (&st.server, &st.export) {
                targets.push((server.clone(), export.clone(), volid.relative_path()));
            }
        }
    }
    for (server, export, path) in targets {
        if let Some(vol) = w.nfs_volume_mut(&server, &export) {
            // A disk that is missing on the volume is simply not written to.
            let _ = vol.write_file(&path, WRITE_BYTES);
        }
    }
}
