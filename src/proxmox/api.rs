//! Request types of the Proxmox client (config updates, power actions) and the bounded task wait.

use std::time::Duration;

use backon::BackoffBuilder;

use super::error::{ProxmoxError, Result};
use super::types::*;

/// A VM config change: keys to set, keys to delete, optional digest of the config it was computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
    /// Drop pending changes of these keys.
    pub revert: Vec<String>,
    /// Refuse the change if the config changed since it was read ([`ProxmoxError::Conflict`]).
    pub digest: Option<String>,
}

impl ConfigUpdate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set.push((key.into(), value.into()));
        self
    }

    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.delete.push(key.into());
        self
    }

    pub fn revert(mut self, key: impl Into<String>) -> Self {
        self.revert.push(key.into());
        self
    }

    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// Form parameters; an empty change is refused here rather than by Proxmox (`no options specified`).
    pub fn params(&self) -> Result<Vec<(String, String)>> {
        if self.set.is_empty() && self.delete.is_empty() && self.revert.is_empty() {
            return Err(ProxmoxError::Invalid {
                message: "empty config update".into(),
                errors: Default::default(),
            });
        }
        let mut params = self.set.clone();
        if !self.delete.is_empty() {
            params.push(("delete".into(), self.delete.join(",")));
        }
        if !self.revert.is_empty() {
            params.push(("revert".into(), self.revert.join(",")));
        }
        if let Some(d) = &self.digest {
            params.push(("digest".into(), d.clone()));
        }
        Ok(params)
    }
}

/// A power operation; every one runs as a task and returns its UPID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    /// Hard stop.
    Stop,
    /// ACPI shutdown; `force_stop` stops hard after `timeout` seconds.
    Shutdown {
        timeout: Option<u32>,
        force_stop: bool,
    },
    /// Pause (QMP `stop`): `status` stays `running`, `qmpstatus` becomes `paused`.
    Suspend,
    /// Suspend to disk: ends `stopped` with `lock: suspended` and a vmstate volume.
    Hibernate,
    /// Resume a paused VM or start a hibernated one from its state.
    Resume,
}

impl PowerAction {
    pub(crate) fn request(self) -> (&'static str, Vec<(String, String)>) {
        match self {
            PowerAction::Start => ("start", vec![]),
            PowerAction::Stop => ("stop", vec![]),
            PowerAction::Shutdown {
                timeout,
                force_stop,
            } => {
                let mut p = Vec::new();
                if let Some(t) = timeout {
                    p.push(("timeout".to_string(), t.to_string()));
                }
                if force_stop {
                    p.push(("forceStop".to_string(), "1".to_string()));
                }
                ("shutdown", p)
            }
            PowerAction::Suspend => ("suspend", vec![]),
            PowerAction::Hibernate => ("suspend", vec![("todisk".to_string(), "1".to_string())]),
            PowerAction::Resume => ("resume", vec![]),
        }
    }
}

/// Result of a bounded task wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskWait {
    /// The task ended with `OK` or `WARNINGS: n`.
    Done { warnings: bool },
    /// Still running when the budget ran out: store the UPID and check again on the next reconcile.
    Running(Upid),
}

/// Polls a task with bounded exponential backoff (200 ms doubling to 2 s, with jitter) for at most `budget`.
/// A failed task is [`ProxmoxError::TaskFailed`]; running out of time is [`TaskWait::Running`], never a failure.
/// Transient errors while polling (including "no such task" right after the start) are retried within the budget.
pub async fn wait_for_task(
    api: &super::ProxmoxClient,
    upid: &Upid,
    budget: Duration,
) -> Result<TaskWait> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        match api.task_status(upid).await {
            Ok(status) => match status.outcome() {
                TaskOutcome::Succeeded { warnings } => return Ok(TaskWait::Done { warnings }),
                TaskOutcome::Failed { exitstatus } => {
                    return Err(ProxmoxError::TaskFailed {
                        upid: upid.raw.clone(),
                        exitstatus,
                    })
                }
                TaskOutcome::Running => {}
            },
            Err(e) if e.is_transient() => {
                tracing::debug!(upid = %upid, error = %e, "task status poll failed; retrying");
            }
            Err(e) => return Err(e),
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(2));
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(TaskWait::Running(upid.clone()));
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_update_params() {
        let u = ConfigUpdate::new()
            .set("unused0", "nfs1:100/vm-100-disk-5.raw")
            .delete("unused1")
            .delete("unused2")
            .digest("abc");
        assert_eq!(
            u.params().unwrap(),
            vec![
                (
                    "unused0".to_string(),
                    "nfs1:100/vm-100-disk-5.raw".to_string()
                ),
                ("delete".to_string(), "unused1,unused2".to_string()),
                ("digest".to_string(), "abc".to_string()),
            ]
        );
        assert!(ConfigUpdate::new().digest("x").params().is_err());
    }

    #[test]
    fn power_requests() {
        assert_eq!(
            PowerAction::Hibernate.request(),
            ("suspend", vec![("todisk".into(), "1".into())])
        );
        assert_eq!(PowerAction::Suspend.request(), ("suspend", vec![]));
        assert_eq!(
            PowerAction::Shutdown {
                timeout: Some(60),
                force_stop: false
            }
            .request(),
            ("shutdown", vec![("timeout".into(), "60".into())])
        );
    }
}
