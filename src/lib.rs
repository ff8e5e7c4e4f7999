//! pve-ontap-controller: declarative ONTAP FileClone, snapshots and FlexClone mounts for Proxmox VE.
pub mod api;
pub mod config;
pub mod controller;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod ontap;
pub mod proxmox;
pub mod request_observer;
pub mod telemetry;
