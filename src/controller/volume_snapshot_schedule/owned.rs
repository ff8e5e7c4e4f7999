//! The VolumeSnapshots a schedule made: named from the schedule's UID and the slot, labelled with the schedule,
//! and recognised only by all of that together (a label anyone can set never makes a VolumeSnapshot ours).

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::api::VolumeSnapshot;
use crate::controller::naming;

/// Label naming the schedule on each of its VolumeSnapshots (for `kubectl get ovs -l`).
pub const SCHEDULE_LABEL: &str = "pveontap.io/schedule";
/// Annotation holding the slot (RFC 3339) a VolumeSnapshot was taken for.
pub const SLOT_ANNOTATION: &str = "pveontap.io/slot";

/// The name of the VolumeSnapshot of `slot`: the schedule's name (shortened), the slot's minute, and a hash of
/// the schedule's UID, so a schedule of the same name created again never claims the old one's snapshots.
pub fn slot_name(cluster_id: &str, schedule: &str, uid: &str, slot: DateTime<Utc>) -> String {
    let prefix: String = schedule.chars().take(40).collect();
    let prefix = prefix.trim_end_matches(['-', '.']);
    let hash = naming::object_hash(cluster_id, uid);
    format!(
        "{prefix}-{}-{}",
        slot.format("%Y%m%d%H%M"),
        &hash[..8.min(hash.len())]
    )
}

/// The slot of a VolumeSnapshot this schedule made, or `None` when it is not one of its own: the label, the
/// slot annotation, the name derived from both, and a spec that adopts nothing must all agree.
pub fn own_slot(
    vs: &VolumeSnapshot,
    cluster_id: &str,
    schedule: &str,
    uid: &str,
) -> Option<DateTime<Utc>> {
    if vs.labels().get(SCHEDULE_LABEL).map(String::as_str) != Some(schedule) {
        return None;
    }
    if vs.spec.existing_snapshot_name.is_some() || vs.spec.snapshot_name.is_some() {
        return None;
    }
    let slot = DateTime::parse_from_rfc3339(vs.annotations().get(SLOT_ANNOTATION)?)
        .ok()?
        .to_utc();
    (vs.name_any() == slot_name(cluster_id, schedule, uid, slot)).then_some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn vs(
        name: &str,
        label: Option<&str>,
        slot: Option<&str>,
        spec: serde_json::Value,
    ) -> VolumeSnapshot {
        let mut meta = serde_json::json!({ "name": name, "namespace": "ns" });
        if let Some(l) = label {
            meta["labels"] = serde_json::json!({ SCHEDULE_LABEL: l });
        }
        if let Some(s) = slot {
            meta["annotations"] = serde_json::json!({ SLOT_ANNOTATION: s });
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pveontap.io/v1alpha1", "kind": "VolumeSnapshot", "metadata": meta, "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn names_are_per_slot_and_per_schedule_uid() {
        let t = at("2026-03-01T02:30:00Z");
        let a = slot_name("c", "nightly", "uid-1", t);
        assert!(a.starts_with("nightly-202603010230-"), "{a}");
        assert_eq!(a, slot_name("c", "nightly", "uid-1", t));
        assert_ne!(a, slot_name("c", "nightly", "uid-2", t));
        assert_ne!(
            a,
            slot_name("c", "nightly", "uid-1", at("2026-03-01T02:31:00Z"))
        );
        let long = slot_name("c", &"x".repeat(250), "u", t);
        assert!(long.len() <= 63, "{}", long.len());
    }

    #[test]
    fn only_what_agrees_in_every_respect_is_ours() {
        let t = "2026-03-01T02:30:00Z";
        let name = slot_name("c", "nightly", "uid-1", at(t));
        let spec =
            serde_json::json!({ "proxmoxClusterRef": { "name": "pve" }, "storage": "ONTAP01" });
        assert_eq!(
            own_slot(
                &vs(&name, Some("nightly"), Some(t), spec.clone()),
                "c",
                "nightly",
                "uid-1"
            ),
            Some(at(t))
        );
        // A labelled VolumeSnapshot of someone else, another slot's name, another schedule's, an adopted one.
        assert!(own_slot(
            &vs("mine", Some("nightly"), Some(t), spec.clone()),
            "c",
            "nightly",
            "uid-1"
        )
        .is_none());
        assert!(own_slot(
            &vs(
                &name,
                Some("nightly"),
                Some("2026-03-01T02:31:00Z"),
                spec.clone()
            ),
            "c",
            "nightly",
            "uid-1"
        )
        .is_none());
        assert!(own_slot(
            &vs(&name, Some("nightly"), Some(t), spec.clone()),
            "c",
            "nightly",
            "uid-2"
        )
        .is_none());
        assert!(own_slot(
            &vs(&name, None, Some(t), spec.clone()),
            "c",
            "nightly",
            "uid-1"
        )
        .is_none());
        let mut adopted = spec;
        adopted["existingSnapshotName"] = serde_json::json!("daily.0");
        assert!(own_slot(
            &vs(&name, Some("nightly"), Some(t), adopted),
            "c",
            "nightly",
            "uid-1"
        )
        .is_none());
    }
}
