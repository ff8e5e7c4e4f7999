//! Test support: a real etcd + kube-apiserver (RBAC enforced) for tests and the local demo environment.
//!
//! ```no_run
//! # async fn example() -> testkit::Result<()> {
//! let control_plane = testkit::shared().await?;          // one per test binary
//! let namespace = control_plane.create_namespace("clone").await?; // one per test
//! let admin = control_plane.admin_client().await?;
//! let identity = testkit::ChartIdentity::install(control_plane, &namespace, "clone-test").await?;
//! let as_controller = identity.client(control_plane).await?; // only what the chart's ClusterRole grants
//! # Ok(()) }
//! ```

pub mod chart;
pub mod control_plane;
pub mod error;
pub mod kubeconfig;
pub mod manifests;
pub mod paths;
pub mod pki;
pub mod process;
mod shared;

pub use chart::{ChartIdentity, Render, Tenant};
pub use control_plane::{ControlPlane, Options};
pub use error::{Error, Result};
pub use shared::{shared, shared_blocking};
