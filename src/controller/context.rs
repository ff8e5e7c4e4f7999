//! State shared by every reconcile: the Kubernetes client, settings, metrics, backoff, locks, Events and the
//! cache of backend clients.

use crate::controller::locks::unpoisoned;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tracing::warn;

use std::collections::HashMap;
use std::sync::Mutex;

use super::backends::{Backends, FactCache};
use super::backoff::Backoff;
use super::locks::KeyedLocks;
use super::resolve::StorageFacts;
use crate::metrics::Metrics;

/// Name of the controller in Events and field managers.
pub const CONTROLLER_NAME: &str = "pve-ontap-controller";

/// Worker count per kind.
#[derive(Clone, Debug)]
pub struct Concurrency {
    pub vm_disk_clone: u16,
    pub volume_snapshot: u16,
    pub flex_clone_mount: u16,
    pub backends: u16,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            vm_disk_clone: 16,
            volume_snapshot: 4,
            flex_clone_mount: 4,
            backends: 2,
        }
    }
}

/// Everything the runtime needs besides the client; built from [`crate::config::Config`] or by tests.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Identity of this Kubernetes cluster in ownership markers.
    pub cluster_id: String,
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    pub concurrency: Concurrency,
    /// Requeue period of healthy objects (drift raises no watch event).
    pub resync: Duration,
    /// Longest a guest file system stays frozen.
    pub fsfreeze_deadline: Duration,
    /// Default bound of a clean guest shutdown.
    pub shutdown_timeout: Duration,
    /// First and longest delay of the per-object backoff.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Pod name, reported in Events.
    pub instance: Option<String>,
    /// How long backend facts that rarely change (VM placement, storage definitions, data LIFs, the volume
    /// behind an export) are reused without asking again; zero asks every time. See [`BackendFacts`].
    pub facts_ttl: Duration,
    /// "Now" for schedules (a test sets it).
    pub clock: super::clock::Clock,
    /// How NFS server names in storage definitions become addresses.
    pub hosts: super::resolve::HostResolver,
    /// Period of the OntapStorage refresh (discovery of storages, volumes and snapshots); `None`: no discovery.
    pub discovery_interval: Option<Duration>,
}

impl Settings {
    pub fn new(cluster_id: impl Into<String>) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            namespaces: Vec::new(),
            concurrency: Concurrency::default(),
            resync: Duration::from_secs(300),
            fsfreeze_deadline: Duration::from_secs(8),
            shutdown_timeout: Duration::from_secs(180),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            instance: None,
            facts_ttl: Duration::from_secs(60),
            clock: super::clock::Clock::system(),
            hosts: super::resolve::HostResolver::system(),
            discovery_interval: None,
        }
    }
}

/// Backend facts shared by every reconcile, each kept for [`crate::controller::context::Settings::facts_ttl`] and dropped when a call
/// contradicts it (see [`FactCache`]). Keys name the backend object first (`<ProxmoxCluster>/<vmid>`), so two
/// backends never share an entry.
pub struct BackendFacts {
    /// Node of a VM, key `<ProxmoxCluster>/<vmid>`; learned for every VM from one `/cluster/resources`.
    pub vm_nodes: FactCache<String>,
    /// Storage definitions, data LIFs and the volume behind each storage (see [`StorageFacts`]).
    pub storage: StorageFacts,
    /// Settled objects (Ready, nothing open) whose periodic check ran, key = object UID; kept for the resync
    /// period so a watch event between resyncs costs no backend call.
    pub checked: FactCache<()>,
    /// Objects this process brought to Ready (or checked while Ready), key = object UID, value = the
    /// generation then; kept for the resync period. A watch event between resyncs costs no backend call, even
    /// one that carries an older copy of the object than the Ready status already written.
    pub finished: FactCache<i64>,
    /// Objects whose cleanup finished (everything removed or retained), key = object UID: a reconcile woken
    /// by the cleanup's own status writes before the object is gone only releases the finalizer.
    pub cleaned: FactCache<()>,
    /// ProxmoxClusters whose storages discovery resolved afresh within most of a discovery period, key = UID:
    /// the periodic refresh asks the backends anew (new and removed storages show), refreshes woken by a change
    /// in between reuse what resolution remembers.
    pub discovered: FactCache<()>,
    /// How many config changes this process made per VM (`<ProxmoxCluster>/<vmid>`): a config read before the
    /// count moved is known stale without asking Proxmox, so parallel objects of one VM re-read instead of
    /// colliding on the digest.
    config_writes: Mutex<HashMap<String, u64>>,
}

/// The key of a VM in [`BackendFacts`]: its ProxmoxCluster first, so two backends never share an entry.
pub fn vm_fact_key(pve_name: &str, vmid: u32) -> String {
    format!("{pve_name}/{vmid}")
}

impl BackendFacts {
    pub fn new(ttl: Duration, resync: Duration) -> Self {
        Self {
            vm_nodes: FactCache::new(ttl),
            storage: StorageFacts::new(ttl),
            checked: FactCache::new(resync),
            finished: FactCache::new(resync),
            cleaned: FactCache::new(resync),
            discovered: FactCache::new(Duration::ZERO),
            config_writes: Mutex::new(HashMap::new()),
        }
    }

    /// The number of config changes this process made to VM `key` so far.
    pub fn config_epoch(&self, key: &str) -> u64 {
        let map = unpoisoned(&self.config_writes);
        map.get(key).copied().unwrap_or(0)
    }

    /// Counts a config change this process made to VM `key`.
    pub fn config_written(&self, key: &str) {
        let mut map = unpoisoned(&self.config_writes);
        *map.entry(key.to_owned()).or_insert(0) += 1;
    }
}

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub backoff: Backoff,
    pub locks: KeyedLocks,
    pub backends: Backends,
    pub facts: BackendFacts,
    recorder: Recorder,
}

impl Context {
    pub fn new(client: Client, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: settings.instance.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            backoff: Backoff::new(settings.backoff_base, settings.backoff_max),
            locks: KeyedLocks::default(),
            facts: BackendFacts {
                // Slightly shorter than the period, so each periodic refresh resolves afresh.
                discovered: FactCache::new(
                    settings
                        .discovery_interval
                        .map_or(Duration::ZERO, |d| d.mul_f64(0.9)),
                ),
                ..BackendFacts::new(settings.facts_ttl, settings.resync)
            },
            backends: Backends::new(
                client.clone(),
                Arc::new(super::backends::HttpClientFactory {
                    observer: Some(metrics.clone()),
                }),
            ),
            client,
            settings,
            metrics,
        }
    }

    /// Publishes an Event about `obj`. Failing to publish never fails a reconcile.
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let mut note: String = note.into();
        // The Events API rejects notes over 1 kB.
        if note.len() > 1000 {
            let mut cut = 1000;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(error = %e, reason, "failed to publish Event");
        }
    }

    pub async fn normal<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        note: impl Into<String>,
    ) {
        self.event(obj, EventType::Normal, reason, reason, note)
            .await
    }

    pub async fn warning<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        note: impl Into<String>,
    ) {
        self.event(obj, EventType::Warning, reason, reason, note)
            .await
    }
}
