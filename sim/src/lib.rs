//! pve-ontap-sim: stateful simulators of the ONTAP REST API and the Proxmox VE API sharing one world.
//!
//! Use [`start`] to run both HTTPS listeners in-process (tests), or the `pve-ontap-sim` binary.

pub mod faults;
pub mod guest_io;
pub mod hooks;
pub mod ontap;
pub mod pve;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod tls;
pub mod world;

pub use scenario::Scenario;
pub use server::{start, RunningSim, ScenarioSource, SimOptions, StartError};
pub use world::{Sim, World};
