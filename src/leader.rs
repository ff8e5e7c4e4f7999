//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas run with exactly one reconciling.
//!
//! kube-runtime 5 ships no leader election, so this follows client-go's `leaderelection` package:
//! - Expiry is judged by the *local* monotonic clock from the moment a candidate last saw the Lease record
//!   change, never by comparing `renewTime` with the local wall clock, so clock skew between nodes cannot make
//!   two replicas lead at once.
//! - Every write is an update guarded by the `resourceVersion` just read (a create when there is no Lease), so
//!   two candidates racing for an expired Lease cannot both win: the loser gets 409 Conflict.
//! - The leader gives up after `renew_deadline` without a successful renewal, which is shorter than
//!   `lease_duration`, the time the others wait before taking over. It stops acting before anyone else starts.
//! - A graceful stop releases the Lease (empty holder, 1 s duration) so a successor takes over at once.
//!
//! Leadership loss is final: [`Leadership::lost`] resolves and the caller is expected to stop reconciling and
//! exit, so a replica never runs "headless" with stale state.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Default Lease name; the Helm chart passes its release-specific name.
pub const DEFAULT_LEASE_NAME: &str = "pve-ontap-controller";

/// Leader election flags, flattened into the binary's [`crate::config::Config`].
#[derive(clap::Args, Debug, Clone)]
pub struct LeaderElectionArgs {
    /// Name of the Lease used for leader election.
    #[arg(long = "leader-election-lease-name", env = "LEADER_ELECTION_LEASE_NAME", default_value = DEFAULT_LEASE_NAME)]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace from POD_NAMESPACE, else the kubeconfig's namespace).
    #[arg(long = "leader-election-namespace", env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Seconds a Lease stays valid without renewal; followers take over after this.
    #[arg(
        long = "leader-election-lease-duration-seconds",
        env = "LEADER_ELECTION_LEASE_DURATION_SECONDS",
        default_value_t = 15
    )]
    pub lease_duration_seconds: u64,
    /// Seconds the leader keeps retrying a failed renewal before it gives up leadership (< lease duration).
    #[arg(
        long = "leader-election-renew-deadline-seconds",
        env = "LEADER_ELECTION_RENEW_DEADLINE_SECONDS",
        default_value_t = 10
    )]
    pub renew_deadline_seconds: u64,
    /// Seconds between acquire and renew attempts (< renew deadline).
    #[arg(
        long = "leader-election-retry-period-seconds",
        env = "LEADER_ELECTION_RETRY_PERIOD_SECONDS",
        default_value_t = 2
    )]
    pub retry_period_seconds: u64,
}

impl LeaderElectionArgs {
    /// Settings for `identity` (unique per process, e.g. from [`unique_identity`]); `fallback_namespace` is
    /// used when neither the flag nor POD_NAMESPACE is set (pass `client.default_namespace()`).
    pub fn settings(
        &self,
        identity: String,
        fallback_namespace: &str,
    ) -> Result<LeaseSettings, LeaderError> {
        LeaseSettings {
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| fallback_namespace.to_owned()),
            name: self.lease_name.clone(),
            identity,
            lease_duration: Duration::from_secs(self.lease_duration_seconds),
            renew_deadline: Duration::from_secs(self.renew_deadline_seconds),
            retry_period: Duration::from_secs(self.retry_period_seconds),
        }
        .validated()
    }
}

/// A holder identity unique to this process: the pod name (or "controller") plus a random suffix, so a
/// restarted container with the same pod name never mistakes its predecessor's Lease for its own.
pub fn unique_identity(pod_name: Option<&str>) -> String {
    format!(
        "{}_{}",
        pod_name.unwrap_or("controller"),
        uuid::Uuid::new_v4().simple()
    )
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("invalid leader election settings: {0}")]
    Settings(String),
    #[error("Lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Where the Lease is and how it is timed.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// Written as `holderIdentity`; must be unique per process.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Checks the ordering client-go requires: the leader must give up (renew deadline) before followers take
    /// over (lease duration), and must be able to retry at least once within the deadline.
    pub fn validated(self) -> Result<Self, LeaderError> {
        let invalid = |m: &str| Err(LeaderError::Settings(m.to_owned()));
        if self.identity.is_empty() {
            return invalid("the identity is empty");
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return invalid("the Lease namespace and name must be set");
        }
        if self.retry_period.is_zero() {
            return invalid("the retry period must be positive");
        }
        if self.renew_deadline <= self.retry_period {
            return invalid("the renew deadline must be longer than the retry period");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("the lease duration must be longer than the renew deadline");
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.as_secs() > i32::MAX as u64 {
            return invalid("the lease duration must be whole seconds between 1 and 2^31-1");
        }
        Ok(self)
    }
}

/// Competes for the Lease until it is acquired.
pub struct LeaderElector {
    lease: LeaseClient,
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        LeaderElector {
            lease: LeaseClient {
                api: Api::namespaced(client, &settings.namespace),
                settings,
                observed: None,
            },
        }
    }

    /// Waits until this process holds the Lease, then keeps renewing it in a background task.
    /// Returns `None` when `cancel` fires first. API errors while waiting are logged and retried.
    pub async fn acquire(mut self, cancel: &CancellationToken) -> Option<Leadership> {
        let settings = self.lease.settings.clone();
        info!(lease = %settings.name, namespace = %settings.namespace, identity = %settings.identity,
            "waiting for leadership");
        loop {
            match self.lease.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    warn!(error = %e, "leader election: acquiring the Lease failed; retrying")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(jittered(settings.retry_period)) => {}
            }
        }
        info!(lease = %settings.name, identity = %settings.identity, "acquired leadership");
        let (is_leader_tx, is_leader) = watch::channel(true);
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let task = tokio::spawn(renew_loop(
            self.lease,
            is_leader_tx,
            lost.clone(),
            stop.clone(),
        ));
        Some(Leadership {
            is_leader,
            lost,
            stop,
            task: Some(task),
        })
    }
}

/// Held leadership. Dropping it stops renewing without releasing (the Lease then expires on its own).
pub struct Leadership {
    is_leader: watch::Receiver<bool>,
    lost: CancellationToken,
    stop: CancellationToken,
    /// Taken by `release`.
    task: Option<JoinHandle<LeaseClient>>,
}

impl Leadership {
    /// Resolves once leadership is lost (renewal failed for the whole renew deadline, or another holder took
    /// the Lease). Never resolves after [`Leadership::release`] was called.
    pub async fn lost(&self) {
        self.lost.cancelled().await
    }

    /// A token cancelled when leadership is lost; hand a child of it to work that must stop with leadership.
    pub fn lost_token(&self) -> CancellationToken {
        self.lost.clone()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// `true` while leading, `false` after loss; for metrics or readiness.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.is_leader.clone()
    }

    /// Stops renewing and, if still the holder, releases the Lease so a successor takes over immediately.
    /// Call after the work guarded by leadership has stopped.
    pub async fn release(mut self) -> Result<(), LeaderError> {
        self.stop.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let lease = match task.await {
            Ok(lease) => lease,
            // The renew task never panics by design; if it did, the Lease simply expires.
            Err(e) => {
                warn!(error = %e, "leader election: renew task failed; the Lease will expire");
                return Ok(());
            }
        };
        if self.lost.is_cancelled() {
            return Ok(());
        }
        lease.release().await
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn renew_loop(
    mut lease: LeaseClient,
    is_leader: watch::Sender<bool>,
    lost: CancellationToken,
    stop: CancellationToken,
) -> LeaseClient {
    let settings = lease.settings.clone();
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return lease,
            _ = tokio::time::sleep(settings.retry_period) => {}
        }
        let deadline = last_renewal + settings.renew_deadline;
        // A hung request must not keep us "leading" past the deadline.
        let attempt = tokio::time::timeout_at(deadline, lease.try_acquire_or_renew());
        let outcome = tokio::select! {
            _ = stop.cancelled() => return lease,
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(Ok(true)) => {
                last_renewal = Instant::now();
                debug!(lease = %settings.name, "renewed the Lease");
                continue;
            }
            Ok(Ok(false)) => {
                warn!(lease = %settings.name, holder = ?lease.observed_holder(),
                    "leader election: another holder took the Lease; leadership lost");
            }
            Ok(Err(e)) if Instant::now() < deadline => {
                warn!(error = %e, "leader election: renewing the Lease failed; retrying until the renew deadline");
                continue;
            }
            Ok(Err(e)) => {
                warn!(error = %e, "leader election: renew deadline passed; leadership lost")
            }
            Err(_) => {
                warn!(lease = %settings.name, "leader election: renew deadline passed; leadership lost")
            }
        }
        let _ = is_leader.send(false);
        lost.cancel();
        return lease;
    }
}

/// ±10% so replicas started together do not hit the apiserver in lockstep.
fn jittered(period: Duration) -> Duration {
    use rand::Rng;
    period.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
}

struct LeaseClient {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The last Lease spec seen and when (local monotonic clock) it was first seen in that form.
    observed: Option<(LeaseSpec, Instant)>,
}

impl LeaseClient {
    fn error(&self, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            source,
        }
    }

    fn observed_holder(&self) -> Option<&str> {
        self.observed
            .as_ref()
            .and_then(|(spec, _)| spec.holder_identity.as_deref())
    }

    fn lease_duration_secs(&self) -> i32 {
        // validated() bounds it to i32.
        self.settings.lease_duration.as_secs() as i32
    }

    /// One client-go style round: `Ok(true)` when this process holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let now = MicroTime(Timestamp::now());
        let current = match self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|e| self.error(e))?
        {
            Some(lease) => lease,
            None => return self.create(now).await,
        };
        let spec = current.spec.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != spec) {
            self.observed = Some((spec.clone(), Instant::now()));
        }
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.settings.identity.as_str());
        if let (Some(_), false) = (holder, mine) {
            let observed_at = self
                .observed
                .as_ref()
                .map(|(_, at)| *at)
                .unwrap_or_else(Instant::now);
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(self.settings.lease_duration);
            if observed_at + duration > Instant::now() {
                return Ok(false);
            }
        }
        let next = LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration_secs()),
            acquire_time: if mine {
                spec.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            // Like client-go: every change of holder (a release included) counts as a transition.
            lease_transitions: Some(if mine {
                spec.lease_transitions.unwrap_or(0)
            } else {
                spec.lease_transitions.unwrap_or(0).saturating_add(1)
            }),
            ..spec
        };
        let update = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                // The guard: the update fails with 409 if anyone wrote the Lease since we read it.
                resource_version: current.metadata.resource_version.clone(),
                ..current.metadata.clone()
            },
            spec: Some(next.clone()),
        };
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &update)
            .await
        {
            Ok(_) => {
                self.observed = Some((next, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn create(&mut self, now: MicroTime) -> Result<bool, LeaderError> {
        let spec = LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration_secs()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec.clone()),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => {
                self.observed = Some((spec, Instant::now()));
                Ok(true)
            }
            // Another candidate created it first.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Empties the holder if we still hold the Lease (client-go's ReleaseOnCancel).
    async fn release(&self) -> Result<(), LeaderError> {
        let Some(current) = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        let released = Lease {
            metadata: current.metadata.clone(),
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                ..spec
            }),
        };
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &released)
            .await
        {
            Ok(_) => {
                info!(lease = %self.settings.name, "released leadership");
                Ok(())
            }
            // Someone else already wrote it: nothing of ours to release.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lease: u64, renew: u64, retry: u64) -> LeaseSettings {
        LeaseSettings {
            namespace: "ns".into(),
            name: "lease".into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        }
    }

    #[test]
    fn timing_must_let_the_leader_give_up_first() {
        assert!(settings(15, 10, 2).validated().is_ok());
        assert!(settings(10, 10, 2).validated().is_err());
        assert!(settings(15, 2, 2).validated().is_err());
        assert!(settings(15, 10, 0).validated().is_err());
    }

    #[test]
    fn identities_are_unique_per_process_start() {
        let a = unique_identity(Some("pod-0"));
        let b = unique_identity(Some("pod-0"));
        assert!(a.starts_with("pod-0_"));
        assert_ne!(a, b);
    }
}
