//! Prometheus metrics of the reconcilers, served on `/metrics`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::request_observer::{RequestEvent, RequestObserver};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    /// A static error category (never free text, to keep cardinality bounded).
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub kind: &'static str,
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendRequestLabels {
    pub backend: &'static str,
    pub method: String,
    /// Route template (never a concrete path).
    pub endpoint: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLatencyLabels {
    pub backend: &'static str,
    pub method: String,
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DisturbedLabels {
    pub state: &'static str,
}

/// The state the controller put a VM in and has not yet undone (the `state` label of `vms_disturbed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmDisturbance {
    Frozen,
    Paused,
    Hibernated,
    Stopped,
}

impl VmDisturbance {
    pub const ALL: [VmDisturbance; 4] = [
        VmDisturbance::Frozen,
        VmDisturbance::Paused,
        VmDisturbance::Hibernated,
        VmDisturbance::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VmDisturbance::Frozen => "frozen",
            VmDisturbance::Paused => "paused",
            VmDisturbance::Hibernated => "hibernated",
            VmDisturbance::Stopped => "stopped",
        }
    }
}

/// All controller metrics, registered once in [`Metrics::new`].
pub struct Metrics {
    pub registry: Registry,
    /// Names of the registered families, in registration order (see [`Metrics::family_names`]).
    families: Vec<&'static str>,
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    /// Last phase written per kind (a count of transitions into each phase).
    pub phase_transitions: Family<PhaseLabels, Counter>,
    /// Reconciles running right now.
    pub in_flight: Family<KindLabels, Gauge>,
    pub backend_requests: Family<BackendRequestLabels, Counter>,
    pub backend_duration: Family<BackendLatencyLabels, Histogram>,
    pub vms_disturbed: Family<DisturbedLabels, Gauge>,
    /// 1 while this replica is the one that reconciles, else 0.
    pub leader: Gauge,
    /// Objects per kind and status phase, each object counted once (in the phase it was last seen in).
    pub objects: Family<PhaseLabels, Gauge>,
    /// Source of `objects`: per object uid, where it is counted. Keyed by uid like `disturbed`, so a rewrite
    /// moves the object instead of counting it again, and a deleted object can be taken out.
    phases: Mutex<HashMap<String, PhaseLabels>>,
    /// Source of `vms_disturbed`: per object uid, the VMs it changed and has not restored. Each object's set is
    /// replaced whole from its written status, so a VM is never counted twice for one object.
    disturbed: Mutex<HashMap<String, HashMap<u32, VmDisturbance>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The registry's name prefix; every exported family is `pveontap_<name>`.
const PREFIX: &str = "pveontap";

/// Registers `metric` and remembers its name, so the registered families can be listed (prometheus_client's
/// registry does not enumerate them, and the encoder skips families that have no samples yet).
fn register(
    registry: &mut Registry,
    families: &mut Vec<&'static str>,
    name: &'static str,
    help: &str,
    metric: impl prometheus_client::registry::Metric,
) {
    families.push(name);
    registry.register(name, help, metric);
}

impl Metrics {
    /// Every registered family's exported name without type suffixes (`pveontap_reconciles`, not `..._total`).
    pub fn family_names(&self) -> std::collections::BTreeSet<String> {
        self.families
            .iter()
            .map(|name| format!("{PREFIX}_{name}"))
            .collect()
    }

    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let mut families = Vec::new();
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        let phase_transitions = Family::<PhaseLabels, Counter>::default();
        let in_flight = Family::<KindLabels, Gauge>::default();
        let backend_requests = Family::<BackendRequestLabels, Counter>::default();
        let backend_duration =
            Family::<BackendLatencyLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            });
        let vms_disturbed = Family::<DisturbedLabels, Gauge>::default();
        // Every state is exported from the start, so a dashboard sees 0 rather than no series.
        for state in VmDisturbance::ALL {
            vms_disturbed
                .get_or_create(&DisturbedLabels {
                    state: state.as_str(),
                })
                .set(0);
        }
        register(
            &mut registry,
            &mut families,
            "reconciles",
            "Reconciliations started",
            reconciles.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "reconcile_errors",
            "Reconciliations that failed, by error category",
            failures.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            duration.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "phase_transitions",
            "Status phase changes written",
            phase_transitions.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "reconciles_in_flight",
            "Reconciliations running now",
            in_flight.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "backend_requests",
            "HTTP requests to the ONTAP and Proxmox APIs, by route template and outcome",
            backend_requests.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "backend_request_duration_seconds",
            "Time until the response headers of an ONTAP or Proxmox API request arrived",
            backend_duration.clone(),
        );
        register(
            &mut registry,
            &mut families,
            "vms_disturbed",
            "VMs whose freeze or power state the controller changed and has not yet restored",
            vms_disturbed.clone(),
        );
        // Starts at 0: a replica waiting for the Lease must not look like a leader.
        let leader = Gauge::default();
        register(
            &mut registry,
            &mut families,
            "leader",
            "1 while this replica holds the leader Lease (or runs without leader election), else 0",
            leader.clone(),
        );
        let objects = Family::<PhaseLabels, Gauge>::default();
        register(
            &mut registry,
            &mut families,
            "objects",
            "Objects of each kind by the status phase they were last seen or written in",
            objects.clone(),
        );
        Self {
            registry,
            families,
            reconciles,
            failures,
            duration,
            phase_transitions,
            in_flight,
            backend_requests,
            backend_duration,
            vms_disturbed,
            leader,
            objects,
            phases: Mutex::new(HashMap::new()),
            disturbed: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a reconcile and returns a guard that records its duration when dropped.
    pub fn reconcile_started(&self, kind: &'static str) -> ReconcileTimer<'_> {
        let labels = KindLabels { kind };
        self.reconciles.get_or_create(&labels).inc();
        self.in_flight.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            kind,
            start: Instant::now(),
        }
    }

    pub fn reconcile_failed(&self, kind: &'static str, category: &'static str) {
        self.failures
            .get_or_create(&ErrorLabels { kind, category })
            .inc();
    }

    pub fn phase_changed(&self, kind: &'static str, phase: &'static str) {
        self.phase_transitions
            .get_or_create(&PhaseLabels { kind, phase })
            .inc();
    }

    /// Counts object `uid` of `kind` in `phase` (seen in the cache or just written), moving it out of the phase
    /// it was counted in before.
    pub fn object_phase(&self, kind: &'static str, uid: &str, phase: &'static str) {
        // Objects from the apiserver always have a uid; without one, distinct objects would share one entry.
        if uid.is_empty() {
            return;
        }
        let labels = PhaseLabels { kind, phase };
        let mut map = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        match map.insert(uid.to_owned(), labels.clone()) {
            Some(old) if old == labels => return,
            Some(old) => {
                self.objects.get_or_create(&old).dec();
            }
            None => {}
        }
        self.objects.get_or_create(&labels).inc();
    }

    /// Takes a deleted object out of `objects` and `vms_disturbed`: nothing will write its status again, so what
    /// it last said must not keep counting (or keep an alert firing) until the next restart.
    pub fn forget_object(&self, uid: &str) {
        let removed = self
            .phases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        if let Some(old) = removed {
            self.objects.get_or_create(&old).dec();
        }
        let mut map = self.disturbed.lock().unwrap_or_else(|p| p.into_inner());
        if map.remove(uid).is_some() {
            self.count_disturbed(&map);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Mirrors a leadership watch into `leader` until its sender is gone (the Lease released or lost for good),
    /// which leaves it at 0.
    pub async fn track_leadership(&self, mut is_leader: watch::Receiver<bool>) {
        loop {
            self.set_leader(*is_leader.borrow_and_update());
            if is_leader.changed().await.is_err() {
                self.set_leader(false);
                return;
            }
        }
    }

    /// Replaces what object `uid` holds disturbed (from its status as just written) and updates the gauge.
    pub fn set_disturbed(&self, uid: &str, vms: impl IntoIterator<Item = (u32, VmDisturbance)>) {
        let vms: HashMap<u32, VmDisturbance> = vms.into_iter().collect();
        let mut map = self.disturbed.lock().unwrap_or_else(|p| p.into_inner());
        if vms.is_empty() {
            map.remove(uid);
        } else {
            map.insert(uid.to_owned(), vms);
        }
        self.count_disturbed(&map);
    }

    fn count_disturbed(&self, map: &HashMap<String, HashMap<u32, VmDisturbance>>) {
        let mut counts: HashMap<VmDisturbance, i64> = HashMap::new();
        for state in map.values().flat_map(HashMap::values) {
            *counts.entry(*state).or_default() += 1;
        }
        for state in VmDisturbance::ALL {
            self.vms_disturbed
                .get_or_create(&DisturbedLabels {
                    state: state.as_str(),
                })
                .set(counts.get(&state).copied().unwrap_or(0));
        }
    }

    /// Text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, event: &RequestEvent<'_>) {
        let backend = event.backend.as_str();
        self.backend_requests
            .get_or_create(&BackendRequestLabels {
                backend,
                method: event.method.to_owned(),
                endpoint: event.endpoint.to_owned(),
                outcome: event.outcome.as_str(),
            })
            .inc();
        self.backend_duration
            .get_or_create(&BackendLatencyLabels {
                backend,
                method: event.method.to_owned(),
                endpoint: event.endpoint.to_owned(),
            })
            .observe(event.duration.as_secs_f64());
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let labels = KindLabels { kind: self.kind };
        self.metrics
            .duration
            .get_or_create(&labels)
            .observe(self.start.elapsed().as_secs_f64());
        self.metrics.in_flight.get_or_create(&labels).dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::new();
        drop(m.reconcile_started("VmDiskClone"));
        m.reconcile_failed("VmDiskClone", "OntapTransient");
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"pveontap_reconciles_total{kind="VmDiskClone"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"category="OntapTransient""#), "{text}");
    }

    #[test]
    fn backend_requests_are_counted_by_template() {
        use crate::request_observer::{Backend, Outcome};
        let m = Metrics::new();
        let event = RequestEvent {
            backend: Backend::Ontap,
            method: "POST",
            endpoint: "/api/storage/file/clone",
            outcome: Outcome::Ok,
            duration: std::time::Duration::from_millis(20),
        };
        m.observe(&event);
        m.observe(&event);
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"pveontap_backend_requests_total{backend="ontap",method="POST",endpoint="/api/storage/file/clone",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pveontap_backend_request_duration_seconds_count{backend="ontap",method="POST",endpoint="/api/storage/file/clone"} 2"#),
            "{text}"
        );
    }

    #[test]
    fn disturbed_vms_count_once_per_object_and_clear() {
        let m = Metrics::new();
        let gauge = |m: &Metrics, state: VmDisturbance| {
            m.vms_disturbed
                .get_or_create(&DisturbedLabels {
                    state: state.as_str(),
                })
                .get()
        };
        m.set_disturbed("a", [(100, VmDisturbance::Frozen)]);
        // Saving the same status again must not count the VM twice.
        m.set_disturbed("a", [(100, VmDisturbance::Frozen)]);
        m.set_disturbed(
            "b",
            [(100, VmDisturbance::Paused), (101, VmDisturbance::Paused)],
        );
        assert_eq!(gauge(&m, VmDisturbance::Frozen), 1);
        assert_eq!(gauge(&m, VmDisturbance::Paused), 2);
        m.set_disturbed("a", []);
        m.set_disturbed("b", [(101, VmDisturbance::Stopped)]);
        assert_eq!(gauge(&m, VmDisturbance::Frozen), 0);
        assert_eq!(gauge(&m, VmDisturbance::Paused), 0);
        assert_eq!(gauge(&m, VmDisturbance::Stopped), 1);
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"pveontap_vms_disturbed{state="hibernated"} 0"#),
            "{text}"
        );
    }
    fn objects(m: &Metrics, kind: &'static str, phase: &'static str) -> i64 {
        m.objects.get_or_create(&PhaseLabels { kind, phase }).get()
    }

    #[test]
    fn objects_count_once_per_uid_in_their_latest_phase() {
        let m = Metrics::new();
        m.object_phase("VmDiskClone", "a", "Pending");
        m.object_phase("VmDiskClone", "a", "InProgress");
        // The same phase seen again (a resync reading the cache) must not count the object twice.
        m.object_phase("VmDiskClone", "a", "InProgress");
        m.object_phase("VmDiskClone", "b", "InProgress");
        m.object_phase("VolumeSnapshot", "c", "Failed");
        assert_eq!(objects(&m, "VmDiskClone", "Pending"), 0);
        assert_eq!(objects(&m, "VmDiskClone", "InProgress"), 2);
        assert_eq!(objects(&m, "VolumeSnapshot", "Failed"), 1);
        m.object_phase("VmDiskClone", "a", "Ready");
        assert_eq!(objects(&m, "VmDiskClone", "InProgress"), 1);
        assert_eq!(objects(&m, "VmDiskClone", "Ready"), 1);
        // No uid: not counted, rather than lumping such objects together.
        m.object_phase("VmDiskClone", "", "Failed");
        assert_eq!(objects(&m, "VmDiskClone", "Failed"), 0);
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"pveontap_objects{kind="VmDiskClone",phase="InProgress"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_forgotten_object_stops_counting() {
        let m = Metrics::new();
        m.object_phase("VolumeSnapshotRestore", "a", "Failed");
        m.object_phase("VolumeSnapshotRestore", "b", "Failed");
        m.set_disturbed("a", [(100, VmDisturbance::Stopped)]);
        m.set_disturbed("b", [(101, VmDisturbance::Stopped)]);
        m.forget_object("a");
        assert_eq!(objects(&m, "VolumeSnapshotRestore", "Failed"), 1);
        let stopped = m
            .vms_disturbed
            .get_or_create(&DisturbedLabels { state: "stopped" })
            .get();
        assert_eq!(stopped, 1);
        // Forgetting twice (a finalizer release and then the not-found event) changes nothing more.
        m.forget_object("a");
        m.forget_object("never-seen");
        assert_eq!(objects(&m, "VolumeSnapshotRestore", "Failed"), 1);
    }

    #[tokio::test]
    async fn leader_gauge_follows_the_leadership_watch() {
        let m = std::sync::Arc::new(Metrics::new());
        assert!(
            m.encode().unwrap().contains("\npveontap_leader 0\n"),
            "a replica starts as a follower"
        );
        let (tx, rx) = watch::channel(true);
        let task = tokio::spawn({
            let m = m.clone();
            async move { m.track_leadership(rx).await }
        });
        let wait_for = |want: i64| {
            let m = m.clone();
            async move {
                for _ in 0..200 {
                    if m.leader.get() == want {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                panic!("leader gauge stayed {} (want {want})", m.leader.get());
            }
        };
        wait_for(1).await;
        tx.send(false).unwrap();
        wait_for(0).await;
        tx.send(true).unwrap();
        wait_for(1).await;
        drop(tx);
        task.await.unwrap();
        assert_eq!(m.leader.get(), 0, "a closed watch means no leadership");
    }
}
