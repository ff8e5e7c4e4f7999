//! Backend call counts from the simulator's `GET /_sim/stats`, as deltas between two snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// `(api, method, route template)`.
pub type RouteKey = (String, String, String);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteTotals {
    pub count: u64,
    /// Time the simulator spent answering (includes injected latency).
    pub total_ms: f64,
}

/// Cumulative counters at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    routes: BTreeMap<RouteKey, RouteTotals>,
}

#[derive(Deserialize)]
struct StatsBody {
    routes: Vec<StatsEntry>,
}

#[derive(Deserialize)]
struct StatsEntry {
    api: String,
    method: String,
    route: String,
    count: u64,
    mean_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("GET {url}: {source}")]
    Http { url: String, source: reqwest::Error },
}

/// Reads the simulator's statistics (hook routes are never counted by the simulator).
pub async fn snapshot(http: &reqwest::Client, base_url: &str) -> Result<Snapshot, StatsError> {
    let url = format!("{base_url}/_sim/stats");
    let body: StatsBody = async {
        http.get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    .await
    .map_err(|source| StatsError::Http {
        url: url.clone(),
        source,
    })?;
    let routes = body
        .routes
        .into_iter()
        .map(|e| {
            (
                (e.api, e.method, e.route),
                RouteTotals {
                    count: e.count,
                    total_ms: e.mean_ms * e.count as f64,
                },
            )
        })
        .collect();
    Ok(Snapshot { routes })
}

impl Snapshot {
    pub fn total_calls(&self) -> u64 {
        self.routes.values().map(|r| r.count).sum()
    }

    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Snapshot) -> Delta {
        let mut routes = BTreeMap::new();
        for (key, after) in &self.routes {
            let prior = before.routes.get(key).copied().unwrap_or_default();
            let count = after.count.saturating_sub(prior.count);
            if count > 0 {
                routes.insert(
                    key.clone(),
                    RouteTotals {
                        count,
                        total_ms: (after.total_ms - prior.total_ms).max(0.0),
                    },
                );
            }
        }
        Delta { routes }
    }
}

/// Calls made between two snapshots.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    pub routes: BTreeMap<RouteKey, RouteTotals>,
}

/// Whether a route is a status poll of an asynchronous operation (ONTAP job, Proxmox task).
pub fn is_poll(method: &str, route: &str) -> bool {
    method == "GET"
        && (route.starts_with("/api/cluster/jobs/") || route.ends_with("/tasks/{upid}/status"))
}

impl Delta {
    fn sum(&self, pred: impl Fn(&RouteKey) -> bool) -> u64 {
        self.routes
            .iter()
            .filter(|(k, _)| pred(k))
            .map(|(_, r)| r.count)
            .sum()
    }

    pub fn calls(&self, api: &str) -> u64 {
        self.sum(|k| k.0 == api)
    }

    pub fn polls(&self, api: &str) -> u64 {
        self.sum(|k| k.0 == api && is_poll(&k.1, &k.2))
    }

    pub fn total(&self) -> u64 {
        self.sum(|_| true)
    }

    pub fn non_poll(&self) -> u64 {
        self.sum(|k| !is_poll(&k.1, &k.2))
    }

    /// Summed answer time of all calls (they may overlap when the controller works in parallel).
    pub fn backend_time(&self) -> Duration {
        Duration::from_secs_f64(self.routes.values().map(|r| r.total_ms).sum::<f64>() / 1000.0)
    }

    /// `(api METHOD route, calls)`, most frequent first: the per-step breakdown in BENCHMARKS.md.
    pub fn breakdown(&self) -> Vec<(String, u64)> {
        let mut rows: Vec<(String, u64)> = self
            .routes
            .iter()
            .map(|((api, method, route), r)| (format!("{api} {method} {route}"), r.count))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    /// `(api METHOD route, calls, mean answer time)`, most frequent first.
    pub fn breakdown_timed(&self) -> Vec<(String, u64, Duration)> {
        let mut rows: Vec<(String, u64, Duration)> = self
            .routes
            .iter()
            .map(|((api, method, route), r)| {
                let mean = Duration::from_secs_f64(r.total_ms / 1000.0 / r.count.max(1) as f64);
                (format!("{api} {method} {route}"), r.count, mean)
            })
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(entries: &[(&str, &str, &str, u64, f64)]) -> Snapshot {
        Snapshot {
            routes: entries
                .iter()
                .map(|(a, m, r, c, ms)| {
                    (
                        (a.to_string(), m.to_string(), r.to_string()),
                        RouteTotals {
                            count: *c,
                            total_ms: *ms,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn delta_counts_only_new_calls_and_classifies_polls() {
        let before = snap(&[("ontap", "GET", "/api/cluster/jobs/{uuid}", 3, 30.0)]);
        let after = snap(&[
            ("ontap", "GET", "/api/cluster/jobs/{uuid}", 5, 50.0),
            ("ontap", "POST", "/api/storage/file/clone", 1, 10.0),
            (
                "pve",
                "GET",
                "/api2/json/nodes/{node}/tasks/{upid}/status",
                2,
                4.0,
            ),
            (
                "pve",
                "PUT",
                "/api2/json/nodes/{node}/qemu/{vmid}/config",
                1,
                2.0,
            ),
        ]);
        let d = after.since(&before);
        assert_eq!(d.calls("ontap"), 3);
        assert_eq!(d.polls("ontap"), 2);
        assert_eq!(d.calls("pve"), 3);
        assert_eq!(d.polls("pve"), 2);
        assert_eq!(d.non_poll(), 2);
        assert_eq!(d.total(), 6);
        assert!((d.backend_time().as_secs_f64() - 0.036).abs() < 1e-9);
        assert_eq!(
            d.breakdown()[0],
            ("ontap GET /api/cluster/jobs/{uuid}".to_string(), 2)
        );
    }
}
