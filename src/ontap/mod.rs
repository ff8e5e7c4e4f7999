//! Typed ONTAP REST API client.

pub mod api;
pub mod client;
pub mod error;
pub mod types;

pub use api::OntapApi;
pub use client::{OntapClient, OntapConfig};
pub use error::OntapError;
