//! Prometheus metrics of the reconcilers, served on `/metrics`.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

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

/// All controller metrics, registered once in [`Metrics::new`].
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    /// Last phase written per kind (a count of transitions into each phase).
    pub phase_transitions: Family<PhaseLabels, Counter>,
    /// Reconciles running right now.
    pub in_flight: Family<KindLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pveontap");
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        let phase_transitions = Family::<PhaseLabels, Counter>::default();
        let in_flight = Family::<KindLabels, Gauge>::default();
        registry.register("reconciles", "Reconciliations started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed, by error category",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            duration.clone(),
        );
        registry.register(
            "phase_transitions",
            "Status phase changes written",
            phase_transitions.clone(),
        );
        registry.register(
            "reconciles_in_flight",
            "Reconciliations running now",
            in_flight.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            phase_transitions,
            in_flight,
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

    /// Text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
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
}
