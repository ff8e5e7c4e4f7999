//! Per-object exponential backoff with jitter, keyed by UID and reset on success.
//!
//! kube-runtime's `error_policy` only gets the object, so the attempt count lives here.
//!
//! The delay `error_policy` returns is not enough on its own: a failed reconcile usually writes status (the
//! error, a cleared task), and the watch event of that write runs the object again at once. Where that retry
//! would touch the VM again (a pause or freeze each time), a [`Backoff::hold`] keeps the object waiting out
//! its delay unless its spec changed or its deletion began.

use crate::controller::locks::unpoisoned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: Mutex<HashMap<String, u32>>,
    holds: Mutex<HashMap<String, Hold>>,
}

/// Until when a failed object waits, and the state of the object the failure was seen on.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Hold {
    until: Instant,
    generation: Option<i64>,
    deleting: bool,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: Mutex::new(HashMap::new()),
            holds: Mutex::new(HashMap::new()),
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

    /// Counts a failure of `key` seen at `generation` (and deletion state) like [`Self::next_delay`], and holds
    /// the object for the returned delay: [`Self::held`] answers until then for the same generation.
    pub fn next_delay_held(&self, key: &str, generation: Option<i64>, deleting: bool) -> Duration {
        let delay = self.next_delay(key);
        let hold = Hold {
            until: Instant::now() + delay,
            generation,
            deleting,
        };
        unpoisoned(&self.holds).insert(key.to_owned(), hold);
        delay
    }

    /// The time `key` still has to wait after its last held failure; `None` once that passed, or when the object
    /// changed since (a new generation, its deletion started): a user's change is acted on at once.
    pub fn held(&self, key: &str, generation: Option<i64>, deleting: bool) -> Option<Duration> {
        let mut holds = unpoisoned(&self.holds);
        let hold = *holds.get(key)?;
        let remaining = hold.until.checked_duration_since(Instant::now());
        match remaining {
            Some(left) if hold.generation == generation && hold.deleting == deleting => Some(left),
            _ => {
                holds.remove(key);
                None
            }
        }
    }

    pub fn attempts(&self, key: &str) -> u32 {
        unpoisoned(&self.attempts).get(key).copied().unwrap_or(0)
    }

    pub fn reset(&self, key: &str) {
        unpoisoned(&self.attempts).remove(key);
        unpoisoned(&self.holds).remove(key);
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

    #[test]
    fn a_hold_lasts_for_its_generation_until_the_delay_passed() {
        let b = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let delay = b.next_delay_held("u", Some(3), false);
        let left = b.held("u", Some(3), false).expect("held");
        assert!(left <= delay, "{left:?} > {delay:?}");
        assert_eq!(b.held("other", Some(3), false), None);
        // Deleting or editing the object is acted on at once, and ends the hold.
        assert_eq!(b.held("u", Some(3), true), None);
        assert_eq!(b.held("u", Some(3), false), None);
        b.next_delay_held("u", Some(3), false);
        assert_eq!(b.held("u", Some(4), false), None);
        assert_eq!(b.held("u", Some(3), false), None);
        // Success ends it too; the delay passing ends it on its own.
        b.next_delay_held("u", Some(4), false);
        b.reset("u");
        assert_eq!(b.held("u", Some(4), false), None);
        let delay = b.next_delay_held("u", Some(4), false);
        std::thread::sleep(delay + Duration::from_millis(10));
        assert_eq!(b.held("u", Some(4), false), None);
        assert_eq!(b.attempts("u"), 1);
    }
}
