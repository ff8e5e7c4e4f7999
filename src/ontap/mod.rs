//! Typed ONTAP REST API client.

pub mod client;
pub mod error;
pub mod types;

pub use client::{OntapClient, OntapConfig};
pub use error::OntapError;
