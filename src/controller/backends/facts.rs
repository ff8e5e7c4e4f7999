//! Facts learned from the backends and kept for a short while, so a burst of reconciles does not ask again.

use crate::controller::locks::unpoisoned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        let mut map = unpoisoned(&self.map);
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
        unpoisoned(&self.map).insert(key.into(), (Instant::now(), value));
    }

    /// Learns many facts at once (e.g. the node of every VM from one listing), dropping expired ones.
    pub fn put_all(&self, entries: impl IntoIterator<Item = (String, V)>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = unpoisoned(&self.map);
        map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        for (k, v) in entries {
            map.insert(k, (now, v));
        }
    }

    pub fn forget(&self, key: &str) {
        unpoisoned(&self.map).remove(key);
    }

    pub fn forget_all(&self) {
        unpoisoned(&self.map).clear();
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
