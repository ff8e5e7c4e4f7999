//! Typed Proxmox VE API client.

pub mod api;
pub mod client;
pub mod drive;
pub mod error;
pub mod types;

pub use api::{wait_for_task, ConfigUpdate, PowerAction, TaskWait};
pub use client::{Credentials, ProxmoxClient, ProxmoxConfig};
pub use error::ProxmoxError;
