//! The controller runtime and the reconcilers of every kind.

pub mod backends;
pub mod backoff;
pub mod clock;
pub mod context;
pub mod error;
pub mod finalizer;
pub mod flex_clone_mount;
pub mod locks;
pub mod naming;
pub mod object;
pub mod ontap_cluster;
pub mod ontap_storage;
pub mod ports;
pub mod probe;
pub mod proxmox_cluster;
pub mod reconcile;
pub mod resolve;
pub mod runtime;
pub mod status;
pub mod vm_disk_clone;
pub mod vm_power;
pub mod volume_snapshot;
pub mod volume_snapshot_restore;
pub mod volume_snapshot_schedule;
