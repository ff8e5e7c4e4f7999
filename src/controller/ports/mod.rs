//! The one seam per external system: [`Pve`] and [`Ontap`], the narrow views of Proxmox VE and ONTAP the
//! reconcilers work with, each next to its one implementation over the typed HTTPS client; errors arrive already
//! classified as [`Error`]. No fake implements them: the reconcilers are tested against the simulator.

mod ontap;
mod pve;

pub use ontap::*;
pub use pve::*;

use super::error::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Outcome of waiting for a Proxmox task or an ONTAP job for a bounded time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Done,
    /// Still running; the id to look at next time.
    Running(String),
}
