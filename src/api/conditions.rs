//! Kubernetes `Condition` helpers shared by every kind.
//!
//! `lastTransitionTime` changes only when a condition's status changes, and comparisons ignore timestamps: otherwise
//! every status write would differ from the last one and the controller would trigger itself forever.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition every kind reports; `kubectl wait --for=condition=Ready` relies on it.
pub const READY: &str = "Ready";
/// Backends: set when TLS verification is switched off.
pub const INSECURE_TLS: &str = "InsecureTLS";
/// Set while the object is being deleted but cannot be yet (dependents, VM running, recovery queue).
pub const DELETION_BLOCKED: &str = "DeletionBlocked";
/// Set when the requested consistency could not be applied (e.g. guest agent failed to freeze).
pub const CONSISTENCY: &str = "Consistency";

/// kstatus (Flux, `kubectl wait`, cli-utils) reads these two "abnormal-true" conditions: present and `True` while the
/// controller works towards the spec (`Reconciling`) or has given up until the spec changes (`Stalled`), absent
/// otherwise.
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Where an object stands for GitOps tools, written as the [`RECONCILING`] / [`STALLED`] pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The spec is realised (or the object is waiting on nothing this controller does).
    Current,
    /// Work towards the spec is under way, or a transient failure is being retried.
    Reconciling,
    /// A permanent failure: nothing changes until the spec does.
    Stalled,
}

/// Sets the kstatus pair for `progress`; the one that does not apply is removed, so at most one is present.
pub fn set_progress(
    conditions: &mut Vec<Condition>,
    progress: Progress,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
) {
    let (present, absent) = match progress {
        Progress::Current => {
            remove_condition(conditions, RECONCILING);
            remove_condition(conditions, STALLED);
            return;
        }
        Progress::Reconciling => (RECONCILING, STALLED),
        Progress::Stalled => (STALLED, RECONCILING),
    };
    remove_condition(conditions, absent);
    set_condition(
        conditions,
        new_condition(present, true, reason, message, observed_generation, now()),
    );
}

/// Condition status values as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

impl From<bool> for Status {
    fn from(value: bool) -> Self {
        if value {
            Status::True
        } else {
            Status::False
        }
    }
}

/// A condition with `lastTransitionTime` = `now`; [`set_condition`] keeps the old time when the status is unchanged.
pub fn new_condition(
    type_: &str,
    status: impl Into<Status>,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status.into().as_str().to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// The current time as a Kubernetes `Time`, truncated to whole seconds (the apiserver stores RFC 3339 seconds, so
/// sub-second precision would only make freshly written and re-read conditions look different).
pub fn now() -> Time {
    let ts = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

/// Inserts or replaces the condition of `new.type_`. The previous `lastTransitionTime` is kept when the status did
/// not change. Returns true when anything other than timestamps changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            let changed = !same_ignoring_time(existing, &new);
            *existing = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Removes the condition of the given type; returns true if one was removed.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition exists with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == Status::True.as_str())
}

/// Equality of two conditions ignoring `lastTransitionTime`.
pub fn same_ignoring_time(a: &Condition, b: &Condition) -> bool {
    a.type_ == b.type_
        && a.status == b.status
        && a.reason == b.reason
        && a.message == b.message
        && a.observed_generation == b.observed_generation
}

/// Equality of two condition lists ignoring order and `lastTransitionTime`.
pub fn conditions_equal_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|ca| find(b, &ca.type_).is_some_and(|cb| same_ignoring_time(ca, cb)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_at_most_one_of_reconciling_and_stalled() {
        let mut conds = Vec::new();
        set_progress(
            &mut conds,
            Progress::Reconciling,
            "Cloning",
            "cloning scsi0",
            Some(2),
        );
        assert!(is_true(&conds, RECONCILING) && find(&conds, STALLED).is_none());
        set_progress(
            &mut conds,
            Progress::Stalled,
            "Invalid",
            "vm 999 not found",
            Some(2),
        );
        assert!(is_true(&conds, STALLED) && find(&conds, RECONCILING).is_none());
        assert_eq!(find(&conds, STALLED).unwrap().observed_generation, Some(2));
        set_progress(&mut conds, Progress::Current, "Ready", "", Some(2));
        assert!(conds.is_empty(), "{conds:?}");
    }

    fn at(sec: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(sec).unwrap())
    }

    #[test]
    fn unchanged_status_keeps_transition_time() {
        let mut conds = vec![new_condition(
            READY,
            false,
            "Pending",
            "waiting",
            Some(1),
            at(10),
        )];
        let changed = set_condition(
            &mut conds,
            new_condition(READY, false, "Pending", "waiting", Some(1), at(20)),
        );
        assert!(!changed);
        assert_eq!(conds[0].last_transition_time, at(10));
    }

    #[test]
    fn changed_reason_with_same_status_keeps_time_but_reports_change() {
        let mut conds = vec![new_condition(
            READY,
            false,
            "Pending",
            "waiting",
            Some(1),
            at(10),
        )];
        let changed = set_condition(
            &mut conds,
            new_condition(READY, false, "Cloning", "copying", Some(1), at(20)),
        );
        assert!(changed);
        assert_eq!(conds[0].last_transition_time, at(10));
        assert_eq!(conds[0].reason, "Cloning");
    }

    #[test]
    fn status_change_moves_transition_time() {
        let mut conds = vec![new_condition(
            READY,
            false,
            "Pending",
            "waiting",
            Some(1),
            at(10),
        )];
        assert!(set_condition(
            &mut conds,
            new_condition(READY, true, "Ready", "done", Some(1), at(20))
        ));
        assert_eq!(conds[0].last_transition_time, at(20));
        assert!(is_true(&conds, READY));
    }

    #[test]
    fn new_type_is_appended() {
        let mut conds = vec![new_condition(READY, true, "Ready", "", None, at(1))];
        assert!(set_condition(
            &mut conds,
            new_condition(
                INSECURE_TLS,
                true,
                "InsecureSkipTLSVerify",
                "tls off",
                None,
                at(2)
            )
        ));
        assert_eq!(conds.len(), 2);
        assert!(remove_condition(&mut conds, INSECURE_TLS));
        assert!(!remove_condition(&mut conds, INSECURE_TLS));
    }

    #[test]
    fn list_comparison_ignores_time_and_order() {
        let a = vec![
            new_condition(READY, true, "Ready", "", Some(2), at(1)),
            new_condition(CONSISTENCY, false, "QuiesceFailed", "agent", Some(2), at(1)),
        ];
        let b = vec![
            new_condition(CONSISTENCY, false, "QuiesceFailed", "agent", Some(2), at(5)),
            new_condition(READY, true, "Ready", "", Some(2), at(9)),
        ];
        assert!(conditions_equal_ignoring_time(&a, &b));
        let c = vec![new_condition(READY, true, "Ready", "", Some(3), at(1))];
        assert!(!conditions_equal_ignoring_time(&a, &c));
        assert!(!conditions_equal_ignoring_time(&a[..1], &c));
    }

    #[test]
    fn now_has_whole_seconds() {
        assert_eq!(now().0.subsec_nanosecond(), 0);
    }
}
