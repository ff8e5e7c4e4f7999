//! Named async locks: power/freeze operations on one VM and FlexClone creation on one volume never interleave,
//! even when different objects reconcile in parallel workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Locks `m` even if a panicking thread poisoned it: every critical section in this crate is a plain map or
/// counter update, so what a poisoned lock holds is still consistent.
pub fn unpoisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct KeyedLocks {
    map: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    /// Claims that outlive one reconcile: a consistency window waiting for a Proxmox task across requeues keeps
    /// its VM claimed, so another object's window cannot start on that VM meanwhile (key → owner UID).
    claims: Mutex<HashMap<String, String>>,
}

impl KeyedLocks {
    /// Waits for and takes the lock named `key`; it is released when the guard drops.
    pub async fn lock(&self, key: String) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut map = unpoisoned(&self.map);
            // Forget locks nobody holds or waits for, so the map does not grow with every VM ever seen.
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(key).or_default().clone()
        };
        mutex.lock_owned().await
    }

    /// Claims `key` for `owner` until [`KeyedLocks::release`]; false while another owner holds it.
    pub fn claim(&self, key: &str, owner: &str) -> bool {
        let mut claims = unpoisoned(&self.claims);
        claims
            .entry(key.to_owned())
            .or_insert_with(|| owner.to_owned())
            == owner
    }

    /// Claims every key for `owner`, or none: `Err(i)` names the first key (`keys[i]`) another owner holds, and
    /// no claim is taken (claims `owner` held before stay).
    pub fn claim_all(&self, keys: &[String], owner: &str) -> Result<(), usize> {
        let mut claims = unpoisoned(&self.claims);
        if let Some(i) = keys
            .iter()
            .position(|k| claims.get(k).is_some_and(|o| o != owner))
        {
            return Err(i);
        }
        for k in keys {
            claims.insert(k.clone(), owner.to_owned());
        }
        Ok(())
    }

    /// Releases `owner`'s claim on `key` (a claim of another owner stays).
    pub fn release(&self, key: &str, owner: &str) {
        let mut claims = unpoisoned(&self.claims);
        if claims.get(key).is_some_and(|o| o == owner) {
            claims.remove(key);
        }
    }

    /// Whether `owner` holds the claim on `key` in this process (a window whose claims are gone was opened by
    /// a controller process that died).
    pub fn is_claimed_by(&self, key: &str, owner: &str) -> bool {
        let claims = unpoisoned(&self.claims);
        claims.get(key).is_some_and(|o| o == owner)
    }

    pub fn vm_key(backend: &str, vmid: u32) -> String {
        format!("vm/{backend}/{vmid}")
    }

    pub fn volume_key(ontap: &str, svm: &str, volume: &str) -> String {
        format!("volume/{ontap}/{svm}/{volume}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_all_takes_every_key_or_none() {
        let locks = KeyedLocks::default();
        assert!(locks.claim("b", "other"));
        assert!(locks.claim("a", "me"));
        let keys = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(locks.claim_all(&keys, "me"), Err(1));
        assert!(locks.is_claimed_by("a", "me"), "held before: kept");
        assert!(!locks.is_claimed_by("c", "me"), "nothing new taken");
        locks.release("b", "other");
        assert_eq!(locks.claim_all(&keys, "me"), Ok(()));
        assert!(keys.iter().all(|k| locks.is_claimed_by(k, "me")));
    }
    use std::time::Duration;

    #[test]
    fn a_claim_excludes_other_owners_until_released() {
        let locks = KeyedLocks::default();
        assert!(locks.claim("vm/a/100", "uid-1"));
        assert!(
            locks.claim("vm/a/100", "uid-1"),
            "re-claiming one's own claim"
        );
        assert!(!locks.claim("vm/a/100", "uid-2"));
        locks.release("vm/a/100", "uid-2");
        assert!(!locks.claim("vm/a/100", "uid-2"), "only the owner releases");
        locks.release("vm/a/100", "uid-1");
        assert!(locks.claim("vm/a/100", "uid-2"));
    }

    #[tokio::test]
    async fn same_key_serialises_other_key_does_not() {
        let locks = Arc::new(KeyedLocks::default());
        let g = locks.lock("a".into()).await;
        // A different key is free while "a" is held.
        let _b = locks.lock("b".into()).await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("a".into()).await;
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(g);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
