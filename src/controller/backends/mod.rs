//! Backend objects (ProxmoxCluster, OntapCluster) as the namespaced kinds use them: the watch cache of the objects,
//! the clients built from their Secrets, what each grants a namespace, facts learned from them, and the probe the
//! two backend kinds share (`controller::probe`). One name per idea: `watch` (objects), `clients` (built and cached), `lookup` (which
//! backend an object may use), `scope` (what it may do there), `facts` (answers kept for a short while).

mod client_cache;
mod clients;
pub mod facts;
mod lookup;
pub mod scope;
mod secrets;
pub mod watch;

pub use clients::{
    ontap_client, proxmox_client, Backends, ClientFactory, HttpClientFactory, OntapConnect,
    PveConnect, PveCredentials, SECRET_RECHECK,
};
pub use facts::FactCache;
pub use lookup::{ontap_for, ontaps_for, proxmox_for};
pub use scope::{OntapGrant, ProxmoxGrant};
