//! The controller runtime and the reconcilers of every kind.

pub mod adapters;
pub mod backend_watch;
pub mod backends;
pub mod backoff;
pub mod client_cache;
pub mod context;
pub mod error;
pub mod finalizer;
pub mod flex_clone_mount;
pub mod locks;
pub mod naming;
pub mod object;
pub mod ports;
pub mod reconcile;
pub mod resolve;
pub mod runtime;
pub mod scope;
pub mod status;
pub mod vm_disk_clone;
pub mod vm_power;
pub mod volume_snapshot;
