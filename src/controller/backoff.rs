//! Per-object exponential backoff with jitter, keyed by UID and reset on success.
//!
//! kube-runtime's `error_policy` only gets the object, so the attempt count lives here.

use crate::controller::locks::unpoisoned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Delay before the next attempt for `key`; every call counts one more failure.
    pub fn next_delay(&self, key: &str) -> Duration {
        let attempt = {
            let mut map = unpoisoned(&self.attempts);
            let n = map.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = self.base.saturating_mul(1u32 << (attempt - 1).min(16));
        let capped = exp.min(self.max);
        // ±20 % jitter so objects failing together do not retry in lockstep.
        let factor = rand::thread_rng().gen_range(0.8..=1.2);
        capped.mul_f64(factor).min(self.max)
    }

    pub fn attempts(&self, key: &str) -> u32 {
        unpoisoned(&self.attempts).get(key).copied().unwrap_or(0)
    }

    pub fn reset(&self, key: &str) {
        unpoisoned(&self.attempts).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let d1 = b.next_delay("u");
        let d2 = b.next_delay("u");
        let d3 = b.next_delay("u");
        assert!(d1 <= Duration::from_millis(1200) && d1 >= Duration::from_millis(800));
        assert!(d2 >= Duration::from_millis(1600) && d2 <= Duration::from_millis(2400));
        assert!(d3 >= Duration::from_millis(3200) && d3 <= Duration::from_millis(4800));
        for _ in 0..20 {
            assert!(b.next_delay("u") <= Duration::from_secs(10));
        }
        assert_eq!(b.attempts("other"), 0);
        b.reset("u");
        assert_eq!(b.attempts("u"), 0);
    }
}
