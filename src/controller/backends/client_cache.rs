//! One client per backend, rebuilt only when the backend object or its Secrets change, so every endpoint keeps
//! one keep-alive connection pool.
//!
//! Seeing a Secret change needs a read of the Secret. Reading it on every reconcile would cost apiserver round
//! trips per object, so a client stays trusted for [`ClientCache::recent`]'s window after its Secrets were last
//! read; a change of the backend object itself is seen at once (its resourceVersion is part of the key).

use crate::controller::locks::unpoisoned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Entry<T: ?Sized> {
    /// resourceVersion of the backend object the client was built for.
    backend_version: String,
    /// The backend's and its Secrets' resourceVersions.
    version: String,
    /// When the Secrets were last read and found unchanged.
    checked: Instant,
    client: Arc<T>,
}

pub struct ClientCache<T: ?Sized> {
    map: Mutex<HashMap<String, Entry<T>>>,
}

impl<T: ?Sized> Default for ClientCache<T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: ?Sized> ClientCache<T> {
    /// The client of `name` if it was built for `backend_version` and its Secrets were read within `max_age`.
    pub fn recent(&self, name: &str, backend_version: &str, max_age: Duration) -> Option<Arc<T>> {
        let map = unpoisoned(&self.map);
        map.get(name)
            .filter(|e| e.backend_version == backend_version && e.checked.elapsed() < max_age)
            .map(|e| e.client.clone())
    }

    /// The cached client of `name` if it was built for `version` (resourceVersions of the backend and its
    /// Secrets), else a new one from `build`.
    pub fn get_or_build<E>(
        &self,
        name: &str,
        backend_version: &str,
        version: &str,
        build: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        {
            let mut map = unpoisoned(&self.map);
            if let Some(e) = map.get_mut(name).filter(|e| e.version == version) {
                e.checked = Instant::now();
                return Ok(e.client.clone());
            }
        }
        let client = build()?;
        unpoisoned(&self.map).insert(
            name.to_owned(),
            Entry {
                backend_version: backend_version.to_owned(),
                version: version.to_owned(),
                checked: Instant::now(),
                client: client.clone(),
            },
        );
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_only_on_version_change() {
        let cache: ClientCache<String> = ClientCache::default();
        let builds = std::cell::Cell::new(0);
        let get = |v: &str| {
            cache
                .get_or_build::<()>("a", "1", v, || {
                    builds.set(builds.get() + 1);
                    Ok(Arc::new(format!("client-{v}")))
                })
                .unwrap()
        };
        assert_eq!(*get("1/s1"), "client-1/s1");
        assert_eq!(*get("1/s1"), "client-1/s1");
        assert_eq!(*get("1/s2"), "client-1/s2");
        assert_eq!(builds.get(), 2);
    }

    #[test]
    fn recent_needs_the_same_backend_version_and_a_fresh_secret_check() {
        let cache: ClientCache<String> = ClientCache::default();
        let long = Duration::from_secs(3600);
        assert!(cache.recent("a", "1", long).is_none());
        cache
            .get_or_build::<()>("a", "1", "1/s1", || Ok(Arc::new("c".into())))
            .unwrap();
        assert_eq!(
            cache.recent("a", "1", long).as_deref().map(String::as_str),
            Some("c")
        );
        assert!(
            cache.recent("a", "2", long).is_none(),
            "backend object changed"
        );
        assert!(cache.recent("b", "1", long).is_none());
        assert!(
            cache.recent("a", "1", Duration::ZERO).is_none(),
            "a zero window always re-reads the Secrets"
        );
    }
}
