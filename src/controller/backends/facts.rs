//! Facts learned from the backends and kept for a short while, so a burst of reconciles does not ask again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::controller::ports::PveStorage;
use crate::controller::resolve::Backing;

/// Backend facts shared by every reconcile, each kept for [`crate::controller::context::Settings::facts_ttl`] and dropped when a call
/// contradicts it (see [`FactCache`]). Keys name the backend object first (`<ProxmoxCluster>/<vmid>`), so two
/// backends never share an entry.
pub struct BackendFacts {
    /// Node of a VM, key `<ProxmoxCluster>/<vmid>`; learned for every VM from one `/cluster/resources`.
    pub vm_nodes: FactCache<String>,
    /// Storage definitions of a ProxmoxCluster (`GET /storage`), key `<ProxmoxCluster>`.
    pub storages: FactCache<Vec<PveStorage>>,
    /// `(address, svm)` of the NFS data LIFs of an OntapCluster, key `<OntapCluster>`.
    pub data_lifs: FactCache<Vec<(String, String)>>,
    /// The ONTAP volume behind a Proxmox storage, key `<ProxmoxCluster>/<storage>`.
    pub backings: FactCache<Backing>,
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
    /// How many config changes this process made per VM (`<ProxmoxCluster>/<vmid>`): a config read before the
    /// count moved is known stale without asking Proxmox, so parallel objects of one VM re-read instead of
    /// colliding on the digest.
    config_writes: Mutex<HashMap<String, u64>>,
}

impl BackendFacts {
    pub fn new(ttl: Duration, resync: Duration) -> Self {
        Self {
            vm_nodes: FactCache::new(ttl),
            storages: FactCache::new(ttl),
            data_lifs: FactCache::new(ttl),
            backings: FactCache::new(ttl),
            checked: FactCache::new(resync),
            finished: FactCache::new(resync),
            cleaned: FactCache::new(resync),
            config_writes: Mutex::new(HashMap::new()),
        }
    }

    /// The number of config changes this process made to VM `key` so far.
    pub fn config_epoch(&self, key: &str) -> u64 {
        let map = self.config_writes.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().unwrap_or(0)
    }

    /// Counts a config change this process made to VM `key`.
    pub fn config_written(&self, key: &str) {
        let mut map = self.config_writes.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(key.to_owned()).or_insert(0) += 1;
    }
}

/// Backend facts that rarely change (which node a VM runs on, storage definitions, which volume serves an
/// export), remembered for at most `ttl` so a burst of reconciles does not ask for them again and again.
///
/// Only facts whose staleness the next call catches are kept: a VM-scoped call on the wrong node answers
/// "does not exist", a file clone names the volume by uuid *and* name. Callers drop an entry as soon as a call
/// contradicts it. Absence is never remembered: a lookup that found nothing asks again next time.
pub struct FactCache<V> {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> FactCache<V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The fact, if it was learned less than `ttl` ago.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: impl Into<String>, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.into(), (Instant::now(), value));
    }

    /// Learns many facts at once (e.g. the node of every VM from one listing), dropping expired ones.
    pub fn put_all(&self, entries: impl IntoIterator<Item = (String, V)>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        for (k, v) in entries {
            map.insert(k, (now, v));
        }
    }

    pub fn forget(&self, key: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_expire_and_can_be_forgotten() {
        let cache: FactCache<u32> = FactCache::new(Duration::from_secs(60));
        assert_eq!(cache.get("a"), None);
        cache.put("a", 1);
        cache.put_all([("b".to_string(), 2), ("c".to_string(), 3)]);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(2)));
        cache.forget("b");
        assert_eq!(cache.get("b"), None);
        let off: FactCache<u32> = FactCache::new(Duration::ZERO);
        off.put("a", 1);
        assert_eq!(off.get("a"), None, "a zero ttl remembers nothing");
        let short: FactCache<u32> = FactCache::new(Duration::from_millis(1));
        short.put("a", 1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.get("a"), None, "expired");
    }
}
