//! The controller's notion of "now" for schedules: the system clock in production, a clock the test sets in
//! tests, so a schedule's slots are reached without waiting for wall-clock minutes.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::locks::unpoisoned;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock.
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands at `at` until set or advanced.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(t) => *unpoisoned(t),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock to `at` (a system clock cannot be moved: no effect).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(t) = &self.manual {
            *unpoisoned(t) = at;
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_set() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let c = Clock::manual(t0);
        let shared = c.clone();
        assert_eq!(c.now(), t0);
        shared.set(t0 + chrono::Duration::hours(1));
        assert_eq!(c.now(), t0 + chrono::Duration::hours(1));
        assert!(!Clock::system().is_manual());
    }
}
