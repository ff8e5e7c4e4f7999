//! The release controller binary as a child process: start, metrics, memory, stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::process::Component;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("controller binary {0} not found; build it with `cargo build --release --bin pve-ontap-controller`")]
    Missing(PathBuf),
    #[error("starting the controller: {0}")]
    Spawn(#[from] testkit::Error),
    #[error("reading {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
    #[error("GET {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the controller did not {what} within {timeout:?}; log: {log}")]
    Timeout {
        what: &'static str,
        timeout: Duration,
        log: String,
    },
}

/// How to run the controller.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
    pub workers: u16,
}

/// A running controller process.
pub struct Controller {
    component: Component,
    metrics_url: String,
    http: reqwest::Client,
    spawned: Instant,
}

/// Milestones of a controller start, measured from the moment the process was spawned.
#[derive(Debug, Clone, Copy)]
pub struct StartTimes {
    pub ready: Duration,
    pub first_reconcile: Duration,
}

impl Controller {
    pub fn spawn(launch: &Launch) -> Result<Controller, ControllerError> {
        if !launch.binary.is_file() {
            return Err(ControllerError::Missing(launch.binary.clone()));
        }
        let port = testkit::process::free_port()?;
        let workers = launch.workers.to_string();
        let args: Vec<String> = [
            "--kubeconfig",
            path_str(&launch.kubeconfig),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--instance",
            "pve-ontap-bench",
            "--log-level",
            "info",
            "--vmdiskclone-workers",
            &workers,
            "--volumesnapshot-workers",
            &workers,
            "--flexclonemount-workers",
            &workers,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let spawned = Instant::now();
        let component = Component::spawn(
            "pve-ontap-controller",
            &launch.binary,
            &args,
            launch.log.clone(),
        )?;
        Ok(Controller {
            component,
            metrics_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("plain HTTP client"),
            spawned,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.component.pid()
    }

    fn log_tail(&self) -> String {
        testkit::process::log_tail(&self.component.log, 30)
    }

    /// Polls `/readyz` and `/metrics` until the first reconcile of any kind has started.
    pub async fn wait_started(&mut self, timeout: Duration) -> Result<StartTimes, ControllerError> {
        let mut ready = None;
        loop {
            if let Err(e) = self.component.check_running() {
                return Err(ControllerError::Spawn(e));
            }
            if ready.is_none() {
                let ok = self
                    .http
                    .get(format!("{}/readyz", self.metrics_url))
                    .send()
                    .await;
                if ok.is_ok_and(|r| r.status().is_success()) {
                    ready = Some(self.spawned.elapsed());
                }
            }
            if let Ok(m) = self.metrics().await {
                if m.sum("pveontap_reconciles_total", &[]) > 0.0 {
                    let first = self.spawned.elapsed();
                    return Ok(StartTimes {
                        ready: ready.unwrap_or(first),
                        first_reconcile: first,
                    });
                }
            }
            if self.spawned.elapsed() > timeout {
                return Err(ControllerError::Timeout {
                    what: "start reconciling",
                    timeout,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn metrics(&self) -> Result<Metrics, ControllerError> {
        let url = format!("{}/metrics", self.metrics_url);
        let text = async {
            self.http
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
        .await
        .map_err(|source| ControllerError::Http {
            url: url.clone(),
            source,
        })?;
        Ok(Metrics::parse(&text))
    }

    /// Waits until no reconcile is running (the controller has nothing left to do right now).
    pub async fn wait_idle(&self, timeout: Duration) -> Result<(), ControllerError> {
        let started = Instant::now();
        loop {
            if self
                .metrics()
                .await?
                .sum("pveontap_reconciles_in_flight", &[])
                <= 0.0
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(ControllerError::Timeout {
                    what: "become idle",
                    timeout,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `(VmRSS, VmHWM)` in KiB from `/proc/<pid>/status`.
    pub fn memory_kib(&self) -> Result<(u64, u64), ControllerError> {
        let pid = self.pid().unwrap_or_default();
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ControllerError::Proc { path, source })?;
        Ok((
            proc_status_kib(&text, "VmRSS:"),
            proc_status_kib(&text, "VmHWM:"),
        ))
    }

    /// SIGTERM and wait for the graceful shutdown (SIGKILL after a grace period).
    pub fn stop(mut self) {
        self.component.stop();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn proc_status_kib(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One scrape of the controller's metrics: `series{labels} → value`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    series: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.trim().to_owned(), value.trim().parse().ok()?))
            })
            .collect();
        Metrics { series }
    }

    /// Sum of every series of metric `name` whose labels include all `labels` (`key="value"` pairs).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(series, _)| {
                let (metric, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
                metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, v)| *v)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openmetrics_and_sums_by_label() {
        let m = Metrics::parse(
            "# HELP pveontap_reconciles Reconciliations started\n\
             # TYPE pveontap_reconciles counter\n\
             pveontap_reconciles_total{kind=\"VmDiskClone\"} 12\n\
             pveontap_reconciles_total{kind=\"ProxmoxCluster\"} 3\n\
             pveontap_reconcile_duration_seconds_sum{kind=\"VmDiskClone\"} 1.5\n\
             # EOF\n",
        );
        assert_eq!(m.sum("pveontap_reconciles_total", &[]), 15.0);
        assert_eq!(
            m.sum("pveontap_reconciles_total", &[("kind", "VmDiskClone")]),
            12.0
        );
        assert_eq!(
            m.sum(
                "pveontap_reconcile_duration_seconds_sum",
                &[("kind", "VmDiskClone")]
            ),
            1.5
        );
        assert_eq!(m.sum("pveontap_reconciles", &[]), 0.0);
    }

    #[test]
    fn reads_proc_status_fields() {
        let text = "Name:\tx\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(proc_status_kib(text, "VmHWM:"), 51200);
        assert_eq!(proc_status_kib(text, "VmRSS:"), 40960);
    }
}
