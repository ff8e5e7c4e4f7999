//! Watch caches of the backend objects (ProxmoxCluster, OntapCluster), so a namespaced reconcile finds its backend
//! and checks the namespace allow-list without a request to the apiserver. Started on first use; a lookup the
//! cache cannot answer (not yet synced, or an object created a moment ago) falls back to a direct read.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio::task::AbortHandle;
use tracing::debug;

use crate::api::{OntapCluster, ProxmoxCluster};

/// How long a lookup waits for the initial list of a cache before reading the apiserver directly.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// A cluster-scoped backend kind kept in a watch cache.
pub trait WatchedBackend:
    Resource<DynamicType = (), Scope = kube::core::ClusterResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    fn store(stores: &Stores) -> &Store<Self>;
}

impl WatchedBackend for ProxmoxCluster {
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.proxmox
    }
}

impl WatchedBackend for OntapCluster {
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.ontap
    }
}

pub struct Stores {
    proxmox: Store<ProxmoxCluster>,
    ontap: Store<OntapCluster>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Stores {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn_reflector<K: WatchedBackend>(client: &Client) -> (Store<K>, AbortHandle) {
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(stream.for_each(|event| {
        if let Err(e) = event {
            debug!(error = %e, "backend watch error; the watcher retries with backoff");
        }
        futures::future::ready(())
    }));
    (reader, task.abort_handle())
}

/// The lazily started caches of one controller process.
#[derive(Default)]
pub struct BackendWatch {
    stores: OnceCell<Stores>,
}

impl BackendWatch {
    async fn stores(&self, client: &Client) -> &Stores {
        self.stores
            .get_or_init(|| async {
                let (proxmox, a) = spawn_reflector::<ProxmoxCluster>(client);
                let (ontap, b) = spawn_reflector::<OntapCluster>(client);
                Stores {
                    proxmox,
                    ontap,
                    tasks: vec![a, b],
                }
            })
            .await
    }

    /// The synced cache of `K`, or None while its initial list has not arrived.
    async fn synced<K: WatchedBackend>(&self, client: &Client) -> Option<Store<K>> {
        let store = K::store(self.stores(client).await).clone();
        match tokio::time::timeout(SYNC_WAIT, store.wait_until_ready()).await {
            Ok(Ok(())) => Some(store),
            _ => None,
        }
    }

    /// The backend `name`: from the cache, else read directly (absent from both is absent).
    pub async fn get<K: WatchedBackend>(
        &self,
        client: &Client,
        name: &str,
    ) -> Result<Option<K>, kube::Error> {
        if let Some(store) = self.synced::<K>(client).await {
            if let Some(obj) = store.get(&ObjectRef::new(name)) {
                return Ok(Some(obj.as_ref().clone()));
            }
        }
        Api::<K>::all(client.clone()).get_opt(name).await
    }

    /// Every backend of kind `K`: from the cache once synced, else listed directly.
    pub async fn list<K: WatchedBackend>(&self, client: &Client) -> Result<Vec<K>, kube::Error> {
        if let Some(store) = self.synced::<K>(client).await {
            let mut all: Vec<K> = store.state().iter().map(|k| k.as_ref().clone()).collect();
            // Stable order, as a LIST returns it, so plans and messages do not depend on watch-event order.
            all.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
            return Ok(all);
        }
        Ok(Api::<K>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items)
    }
}
