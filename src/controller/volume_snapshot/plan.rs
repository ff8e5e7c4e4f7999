//! Pure decisions of a VolumeSnapshot: the comment it writes, whether work is still open, which spec changes no
//! longer reach the snapshot, and what holds a snapshot it may not delete.

use std::fmt::Display;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::api::common::{ONTAP_SNAPSHOT_COMMENT_MAX, RESERVED_COMMENT_TEXT, USER_COMMENT_MAX};
use crate::api::volume_snapshot::{SnapshotConsistency, VolumeSnapshotSpec, VolumeSnapshotStatus};
use crate::api::FlexCloneMount;
use crate::controller::error::Error;
use crate::controller::naming::OwnerMarker;

pub fn parse_time(s: &Option<String>) -> Option<Time> {
    let t = chrono::DateTime::parse_from_rfc3339(s.as_deref()?).ok()?;
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .ok()
        .map(Time)
}

/// The comment written to a snapshot we create: the user's comment, then our ownership marker as the last
/// token. Text that could pass for a marker is refused (admission checks it too; an old CRD might not).
pub fn full_comment(comment: Option<&str>, marker: &OwnerMarker) -> Result<String, Error> {
    match comment {
        Some(c) if c.contains(RESERVED_COMMENT_TEXT) => Err(Error::InvalidSpec(format!(
            "spec.comment may not contain {RESERVED_COMMENT_TEXT:?}: it is reserved for the controller's ownership marker"
        ))),
        Some(c) if c.chars().count() > USER_COMMENT_MAX => Err(Error::InvalidSpec(format!(
            "spec.comment is longer than {USER_COMMENT_MAX} characters (ONTAP keeps at most {ONTAP_SNAPSHOT_COMMENT_MAX}, \
             including the ownership marker)"
        ))),
        Some(c) if !c.trim().is_empty() => Ok(format!("{} {}", c.trim_end(), marker.to_comment())),
        _ => Ok(marker.to_comment()),
    }
}

/// Whether a window, a VM to restore or a creation job is still open: such an object is never settled.
pub fn work_open(st: &VolumeSnapshotStatus) -> bool {
    st.window.is_some() || !st.restore.is_empty() || st.job_uuid.is_some()
}

/// Whether this object never got as far as a snapshot, a job or a disturbed VM: deleting it touches nothing.
pub fn nothing_to_clean(st: &VolumeSnapshotStatus) -> bool {
    st.snapshot_uuid.is_none() && !work_open(st)
}

/// The `SpecApplied` condition as `(ok, reason, message)`: which spec changes made after the snapshot was taken
/// (with consistency `taken`) have no effect on it.
pub fn spec_applied(
    spec: &VolumeSnapshotSpec,
    taken: Option<SnapshotConsistency>,
) -> (bool, &'static str, String) {
    let mut ignored = Vec::new();
    if let Some(taken) = taken {
        if taken != spec.consistency {
            ignored.push(format!(
                "consistency {:?} (the snapshot was taken with {taken:?}; consistency applies only when a \
                 snapshot is taken)",
                spec.consistency
            ));
        }
    }
    if spec.existing_snapshot_name.is_some() && spec.comment.is_some() {
        ignored.push("comment (an adopted snapshot is not modified)".to_owned());
    }
    if ignored.is_empty() {
        (true, "Applied", "every spec field is in effect".to_owned())
    } else {
        (
            false,
            "NotReapplied",
            format!(
                "not applied to the existing snapshot: {}",
                ignored.join("; ")
            ),
        )
    }
}

/// The FlexCloneMounts among `fcms` that still depend on VolumeSnapshot `name`, as they are named to the user.
pub fn mount_dependents(fcms: Vec<FlexCloneMount>, name: &str) -> Vec<String> {
    fcms.into_iter()
        .filter(|f| {
            f.spec
                .volume_snapshot_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
        // A split clone no longer depends on the snapshot.
        .filter(|f| !f.status.as_ref().is_some_and(|s| s.split_complete))
        .map(|f| format!("FlexCloneMount {}", f.name_any()))
        .collect()
}

/// Why ONTAP refused (busy) to delete snapshot `name`, given the SVM's volume recovery queue.
pub fn refusal_message(name: &str, recovery_queue: Vec<String>, refusal: &impl Display) -> String {
    // Deleted FlexClones wait in the recovery queue and still hold the snapshot.
    let queued: Vec<String> = recovery_queue
        .into_iter()
        .filter(|n| n.starts_with("pvo_"))
        .collect();
    if queued.is_empty() {
        format!("ONTAP refuses to delete snapshot {name}: {refusal}")
    } else {
        format!(
            "snapshot {name} is held by deleted FlexClones in the volume recovery queue ({}); they expire \
             after volume-delete-retention-hours or can be purged",
            queued.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::{VmRestore, VmRestoreAction};
    use crate::api::volume_snapshot::SnapshotWindow;

    fn marker() -> OwnerMarker {
        OwnerMarker {
            cluster_id: "c1".into(),
            kind: "VolumeSnapshot".into(),
            namespace: "ns".into(),
            name: "vs".into(),
            uid: "0123456789abcdef0123456789abcdef0123".into(),
        }
    }

    fn spec(v: serde_json::Value) -> VolumeSnapshotSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_comment_ends_with_the_marker() {
        let m = marker();
        assert_eq!(full_comment(None, &m).unwrap(), m.to_comment());
        assert_eq!(full_comment(Some("  "), &m).unwrap(), m.to_comment());
        let c = full_comment(Some("before upgrade  "), &m).unwrap();
        assert_eq!(c, format!("before upgrade {}", m.to_comment()));
        assert!(m.is_owner_of(Some(&c)));
    }

    #[test]
    fn the_longest_user_comment_still_fits_ontap() {
        let m = marker();
        let longest = "x".repeat(USER_COMMENT_MAX);
        let c = full_comment(Some(&longest), &m).unwrap();
        assert!(
            c.chars().count() <= ONTAP_SNAPSHOT_COMMENT_MAX,
            "{}",
            c.len()
        );
        let too_long = "x".repeat(USER_COMMENT_MAX + 1);
        assert!(matches!(
            full_comment(Some(&too_long), &m),
            Err(Error::InvalidSpec(_))
        ));
    }

    #[test]
    fn a_comment_that_could_pass_for_a_marker_is_refused() {
        let forged = format!("mine {RESERVED_COMMENT_TEXT}x/y");
        assert!(matches!(
            full_comment(Some(&forged), &marker()),
            Err(Error::InvalidSpec(m)) if m.contains("reserved")
        ));
    }

    #[test]
    fn times_keep_whole_seconds_whatever_the_offset() {
        let t = parse_time(&Some("2024-05-01T12:00:30+02:00".into())).unwrap();
        assert_eq!(t.0.as_second(), 1_714_557_630);
        assert!(parse_time(&Some("yesterday".into())).is_none());
        assert!(parse_time(&None).is_none());
    }

    #[test]
    fn open_work_is_a_window_a_restore_or_a_job() {
        let mut st = VolumeSnapshotStatus::default();
        assert!(!work_open(&st) && nothing_to_clean(&st));
        st.snapshot_uuid = Some("s".into());
        assert!(!work_open(&st) && !nothing_to_clean(&st));
        for open in [
            VolumeSnapshotStatus {
                job_uuid: Some("j".into()),
                ..Default::default()
            },
            VolumeSnapshotStatus {
                window: Some(SnapshotWindow::default()),
                ..Default::default()
            },
            VolumeSnapshotStatus {
                restore: vec![VmRestore {
                    vmid: 100,
                    node: "pve1".into(),
                    action: VmRestoreAction::Resume,
                    since: None,
                }],
                ..Default::default()
            },
        ] {
            assert!(work_open(&open) && !nothing_to_clean(&open), "{open:?}");
        }
    }

    #[test]
    fn spec_changes_after_the_snapshot_are_reported() {
        let (ok, reason, _) = spec_applied(&spec(serde_json::json!({})), None);
        assert!(ok && reason == "Applied");
        let s = spec(serde_json::json!({"consistency": "FsFreeze"}));
        let (ok, reason, _) = spec_applied(&s, Some(SnapshotConsistency::FsFreeze));
        assert!(ok && reason == "Applied");
        let (ok, reason, msg) = spec_applied(&s, Some(SnapshotConsistency::None));
        assert!(!ok && reason == "NotReapplied");
        assert!(
            msg.contains("consistency FsFreeze (the snapshot was taken with None"),
            "{msg}"
        );
        let adopted = spec(serde_json::json!({"existingSnapshotName": "daily", "comment": "x"}));
        let (ok, _, msg) = spec_applied(&adopted, None);
        assert!(
            !ok && msg.ends_with("comment (an adopted snapshot is not modified)"),
            "{msg}"
        );
    }

    #[test]
    fn only_unsplit_mounts_of_this_snapshot_depend_on_it() {
        let fcm = |name: &str, of: &str, split: bool| {
            let mut f: FlexCloneMount = serde_json::from_value(serde_json::json!({
                "apiVersion": "pveontap.io/v1alpha1",
                "kind": "FlexCloneMount",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"volumeSnapshotRef": {"name": of}},
            }))
            .unwrap();
            f.status = Some(Default::default());
            f.status.as_mut().unwrap().split_complete = split;
            f
        };
        let fcms = vec![
            fcm("a", "vs", false),
            fcm("b", "other", false),
            fcm("c", "vs", true),
        ];
        assert_eq!(mount_dependents(fcms, "vs"), ["FlexCloneMount a"]);
    }

    #[test]
    fn a_busy_refusal_names_the_queued_clones() {
        let queue = vec!["pvo_web_1a2b_1234".to_owned(), "user_vol_99".to_owned()];
        let msg = refusal_message("daily", queue, &"busy");
        assert!(msg.contains("recovery queue (pvo_web_1a2b_1234)"), "{msg}");
        let msg = refusal_message("daily", vec!["user_vol_99".to_owned()], &"busy");
        assert_eq!(msg, "ONTAP refuses to delete snapshot daily: busy");
    }
}
