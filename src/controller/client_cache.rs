//! One client per backend, rebuilt only when the backend object or its Secrets change, so every endpoint keeps
//! one keep-alive connection pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct ClientCache<T: ?Sized> {
    map: Mutex<HashMap<String, (String, Arc<T>)>>,
}

impl<T: ?Sized> Default for ClientCache<T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: ?Sized> ClientCache<T> {
    /// The cached client of `name` if it was built for `version` (resourceVersions of the backend and its
    /// Secrets), else a new one from `build`.
    pub fn get_or_build<E>(
        &self,
        name: &str,
        version: &str,
        build: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        if let Some((v, c)) = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            if v == version {
                return Ok(c.clone());
            }
        }
        let client = build()?;
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), (version.to_owned(), client.clone()));
        Ok(client)
    }

    pub fn remove(&self, name: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
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
                .get_or_build::<()>("a", v, || {
                    builds.set(builds.get() + 1);
                    Ok(Arc::new(format!("client-{v}")))
                })
                .unwrap()
        };
        assert_eq!(*get("1"), "client-1");
        assert_eq!(*get("1"), "client-1");
        assert_eq!(*get("2"), "client-2");
        assert_eq!(builds.get(), 2);
    }
}
