//! Call counts and latencies per API, method and route template (`GET /_sim/stats`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteStats {
    pub count: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    /// Responses per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsEntry {
    pub api: String,
    pub method: String,
    pub route: String,
    pub count: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub struct Stats {
    routes: Mutex<BTreeMap<(String, String, String), RouteStats>>,
}

impl Stats {
    fn routes(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String, String), RouteStats>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, api: &str, method: &str, route: &str, status: u16, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut routes = self.routes();
        let e = routes
            .entry((api.to_string(), method.to_string(), route.to_string()))
            .or_default();
        e.count += 1;
        e.total_ms += ms;
        e.max_ms = e.max_ms.max(ms);
        *e.statuses.entry(status).or_default() += 1;
    }

    pub fn clear(&self) {
        self.routes().clear();
    }

    pub fn snapshot(&self) -> Vec<StatsEntry> {
        self.routes()
            .iter()
            .map(|((api, method, route), s)| StatsEntry {
                api: api.clone(),
                method: method.clone(),
                route: route.clone(),
                count: s.count,
                mean_ms: if s.count > 0 {
                    s.total_ms / s.count as f64
                } else {
                    0.0
                },
                max_ms: s.max_ms,
                statuses: s.statuses.clone(),
            })
            .collect()
    }

    /// Number of calls recorded for one method + route template (any API).
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.routes()
            .iter()
            .filter(|((_, m, r), _)| m == method && r == route)
            .map(|(_, s)| s.count)
            .sum()
    }
}
