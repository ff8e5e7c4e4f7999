//! Fault injection: rules added with `POST /_sim/faults`, cleared with `DELETE /_sim/faults`.
//!
//! A rule matches requests by API (`ontap`/`pve`), method and route (the route template as the router knows it,
//! e.g. `/api/storage/volumes/{uuid}`, or a `*` glob over the template or the concrete path). A matching request
//! gets the rule's added latency; whether it also fails (error response or dropped connection) is decided by the
//! trigger: every k-th matching call (`every`), a seeded pseudo-random rate (`rate` + `seed`, deterministic), or
//! always; `count` limits how many times the rule fires. Rules with `async_failure` instead make ONTAP jobs /
//! PVE tasks of an operation fail.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `ontap` or `pve`; absent = both.
    #[serde(default)]
    pub api: Option<String>,
    /// HTTP method; absent = any.
    #[serde(default)]
    pub method: Option<String>,
    /// Route template (`/api/storage/volumes/{uuid}`) or a glob with `*`; absent = any route.
    #[serde(default)]
    pub route: Option<String>,
    /// Latency added to every matching call.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// The error response a triggered call gets.
    #[serde(default)]
    pub error: Option<ErrorSpec>,
    /// A triggered call gets its connection closed without a response.
    #[serde(default)]
    pub drop_connection: bool,
    /// Fire on every k-th matching call (k, 2k, …).
    #[serde(default)]
    pub every: Option<u64>,
    /// Fire with this probability, from a generator seeded with `seed` (default 0): deterministic per rule.
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// Fire at most this many times (absent = unlimited).
    #[serde(default)]
    pub count: Option<u64>,
    /// Make asynchronous operations fail instead of requests.
    #[serde(default)]
    pub async_failure: Option<AsyncFailureSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    pub status: u16,
    /// ONTAP error code (string, as ONTAP sends it); default "1".
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncFailureSpec {
    /// Operation name, e.g. `volume_create`, `file_clone` (ONTAP) or a PVE task type such as `qmsuspend`; `*` = any.
    pub operation: String,
    #[serde(default = "default_async_code")]
    pub code: String,
    #[serde(default = "default_async_message")]
    pub message: String,
}

fn default_async_code() -> String {
    "13565952".into()
}
fn default_async_message() -> String {
    "injected failure".into()
}

/// A failure an asynchronous operation must report instead of succeeding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsyncFailure {
    pub code: String,
    pub message: String,
}

/// What the fault layer does to one request.
#[derive(Debug, Clone, Default)]
pub struct FaultAction {
    pub latency: Option<Duration>,
    pub outcome: Option<FaultOutcome>,
}

#[derive(Debug, Clone)]
pub enum FaultOutcome {
    Error(ErrorSpec),
    Drop,
}

struct Rule {
    id: u64,
    spec: FaultSpec,
    calls: u64,
    fired: u64,
    rng: StdRng,
}

impl Rule {
    fn exhausted(&self) -> bool {
        self.spec.count.is_some_and(|c| self.fired >= c)
    }

    fn matches(&self, api: &str, method: &str, template: &str, path: &str) -> bool {
        self.spec
            .api
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case(api))
            && self
                .spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .spec
                .route
                .as_deref()
                .is_none_or(|r| r == template || glob(r, template) || glob(r, path))
    }

    /// Counts a matching call and decides whether it fires.
    fn trigger(&mut self) -> bool {
        self.calls += 1;
        let fire = if let Some(k) = self.spec.every {
            k > 0 && self.calls.is_multiple_of(k)
        } else if let Some(rate) = self.spec.rate {
            self.rng.gen::<f64>() < rate
        } else {
            true
        };
        if fire {
            self.fired += 1;
        }
        fire
    }
}

/// `*` matches any run of characters (including `/`).
pub fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    next_id: Mutex<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultSpecError {
    #[error("a fault needs latency_ms, error, drop_connection or async_failure")]
    NoEffect,
    #[error("rate must be within 0..=1")]
    BadRate,
    #[error("error.status must be an HTTP error status (400..=599)")]
    BadStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub calls: u64,
    pub fired: u64,
}

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, spec: FaultSpec) -> Result<u64, FaultSpecError> {
        if spec.latency_ms.is_none()
            && spec.error.is_none()
            && !spec.drop_connection
            && spec.async_failure.is_none()
        {
            return Err(FaultSpecError::NoEffect);
        }
        if spec.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err(FaultSpecError::BadRate);
        }
        if spec
            .error
            .as_ref()
            .is_some_and(|e| !(400..=599).contains(&e.status))
        {
            return Err(FaultSpecError::BadStatus);
        }
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let rng = StdRng::seed_from_u64(spec.seed.unwrap_or(0));
        self.rules().push(Rule {
            id,
            spec,
            calls: 0,
            fired: 0,
            rng,
        });
        Ok(id)
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }

    pub fn clear(&self) {
        self.rules().clear();
    }

    pub fn list(&self) -> Vec<FaultView> {
        self.rules()
            .iter()
            .map(|r| FaultView {
                id: r.id,
                spec: r.spec.clone(),
                calls: r.calls,
                fired: r.fired,
            })
            .collect()
    }

    /// Evaluates the request rules for one call. Latencies of all matching rules add up; the first rule that
    /// fires decides the outcome.
    pub fn on_request(&self, api: &str, method: &str, template: &str, path: &str) -> FaultAction {
        let mut action = FaultAction::default();
        for rule in self.rules().iter_mut() {
            if rule.spec.async_failure.is_some()
                || rule.exhausted()
                || !rule.matches(api, method, template, path)
            {
                continue;
            }
            if let Some(ms) = rule.spec.latency_ms {
                *action.latency.get_or_insert(Duration::ZERO) += Duration::from_millis(ms);
            }
            let has_outcome = rule.spec.error.is_some() || rule.spec.drop_connection;
            if has_outcome && action.outcome.is_none() && rule.trigger() {
                action.outcome = Some(if rule.spec.drop_connection {
                    FaultOutcome::Drop
                } else {
                    FaultOutcome::Error(rule.spec.error.clone().expect("checked above"))
                });
            } else if !has_outcome {
                rule.calls += 1;
            }
        }
        action
    }

    pub fn take_async_failure(&self, api: &str, operation: &str) -> Option<AsyncFailure> {
        for rule in self.rules().iter_mut() {
            let Some(af) = rule.spec.async_failure.clone() else {
                continue;
            };
            if rule.exhausted()
                || rule
                    .spec
                    .api
                    .as_deref()
                    .is_some_and(|a| !a.eq_ignore_ascii_case(api))
                || !(af.operation == "*" || af.operation == operation)
            {
                continue;
            }
            if rule.trigger() {
                return Some(AsyncFailure {
                    code: af.code,
                    message: af.message,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FaultSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn globbing() {
        assert!(glob("/api/storage/*", "/api/storage/volumes/{uuid}"));
        assert!(glob("*snapshots*", "/api/storage/volumes/{uuid}/snapshots"));
        assert!(!glob("/api/cluster", "/api/cluster/jobs"));
    }

    #[test]
    fn next_n_calls_fail() {
        let f = Faults::default();
        f.add(spec(
            serde_json::json!({"route": "/api/cluster", "error": {"status": 503}, "count": 2}),
        ))
        .unwrap();
        let fired: Vec<bool> = (0..4)
            .map(|_| {
                f.on_request("ontap", "GET", "/api/cluster", "/api/cluster")
                    .outcome
                    .is_some()
            })
            .collect();
        assert_eq!(fired, vec![true, true, false, false]);
    }

    #[test]
    fn every_kth_call() {
        let f = Faults::default();
        f.add(spec(
            serde_json::json!({"method": "GET", "error": {"status": 500}, "every": 3}),
        ))
        .unwrap();
        let fired: Vec<bool> = (0..6)
            .map(|_| f.on_request("pve", "GET", "/x", "/x").outcome.is_some())
            .collect();
        assert_eq!(fired, vec![false, false, true, false, false, true]);
    }

    #[test]
    fn seeded_rate_is_deterministic() {
        let run = || {
            let f = Faults::default();
            f.add(spec(
                serde_json::json!({"error": {"status": 500}, "rate": 0.5, "seed": 7}),
            ))
            .unwrap();
            (0..32)
                .map(|_| f.on_request("ontap", "GET", "/a", "/a").outcome.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    #[test]
    fn async_failures_are_consumed() {
        let f = Faults::default();
        f.add(spec(serde_json::json!({"api": "ontap", "async_failure": {"operation": "file_clone"}, "count": 1})))
            .unwrap();
        assert!(f.take_async_failure("pve", "file_clone").is_none());
        assert!(f.take_async_failure("ontap", "volume_create").is_none());
        assert!(f.take_async_failure("ontap", "file_clone").is_some());
        assert!(f.take_async_failure("ontap", "file_clone").is_none());
    }
}
