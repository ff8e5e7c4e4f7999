//! FlexClone creation (`POST /api/storage/volumes` with `clone.is_flexclone`): the request names a parent volume
//! and optionally one of its snapshots; the create job later fills the clone from that snapshot.

use chrono::Utc;
use serde_json::Value;

use super::error::{codes, OntapError, OntapResult};
use super::state::{new_uuid, CloneOrigin, Ontap, Snapshot, Svm, Volume, VolumeState};
use super::volume_create::CreateRequest;

/// The FlexClone a request describes and, when it names no `clone.parent_snapshot`, the base snapshot the
/// job takes of the parent first.
pub(super) fn flexclone_volume(
    o: &Ontap,
    req: &CreateRequest,
) -> OntapResult<(Volume, Option<Snapshot>)> {
    check_clone_fields(req)?;
    let b = req.body;
    let pv = b
        .pointer("/clone/parent_volume")
        .ok_or_else(|| OntapError::missing_field("clone.parent_volume.name"))?;
    let parent_svm = parent_svm(o, req)?;
    let parent = parent_volume(o, pv, &parent_svm)?;
    let (snap_uuid, snap_name, base) = match b.pointer("/clone/parent_snapshot") {
        Some(ps) => {
            let snap = parent_snapshot(ps, parent)?;
            (snap.uuid.clone(), snap.name.clone(), None)
        }
        None => {
            let s = base_snapshot(req.name);
            (s.uuid.clone(), s.name.clone(), Some(s))
        }
    };
    Ok((clone_volume(req, parent, snap_uuid, snap_name), base))
}

/// A clone takes its size and aggregate from the parent, so the request may not set them.
fn check_clone_fields(req: &CreateRequest) -> OntapResult<()> {
    if !matches!(req.vol_type.as_str(), "rw" | "dp") {
        return Err(OntapError::bad_request(
            codes::CLONE_INVALID_TYPE,
            "Invalid volume.type for clone volume.",
        )
        .with_target("type"));
    }
    for f in ["size", "aggregates"] {
        if req.body.get(f).is_some() {
            return Err(OntapError::bad_request(
                codes::CLONE_FIELD_NOT_ALLOWED,
                format!("Field \"{f}\" cannot be specified when creating a FlexClone volume."),
            )
            .with_target(f));
        }
    }
    Ok(())
}

/// `clone.parent_svm`, else the clone's own SVM.
fn parent_svm(o: &Ontap, req: &CreateRequest) -> OntapResult<Svm> {
    let Some(ps) = req.body.pointer("/clone/parent_svm") else {
        return Ok(req.svm.clone());
    };
    if req.nas_path.is_some() {
        return Err(OntapError::bad_request(
            "1520442",
            "Specifying a junction path is not supported when \"clone.parent_svm\" is given.",
        ));
    }
    super::body::resolve_svm(o, Some(ps), "clone.parent_svm")
}

/// `clone.parent_volume` by UUID (checked against the name when both are given) or by name, in `parent_svm`.
fn parent_volume<'o>(o: &'o Ontap, pv: &Value, parent_svm: &Svm) -> OntapResult<&'o Volume> {
    match (
        pv.get("uuid").and_then(Value::as_str),
        pv.get("name").and_then(Value::as_str),
    ) {
        (Some(u), name) => o
            .volume(u)
            .filter(|v| name.is_none_or(|n| v.name == n))
            .filter(|v| v.svm_uuid == parent_svm.uuid),
        (None, Some(n)) => o.volume_by_name(&parent_svm.uuid, n),
        (None, None) => return Err(OntapError::missing_field("clone.parent_volume.name")),
    }
    .ok_or_else(|| {
        OntapError::bad_request(
            codes::CLONE_PARENT_NOT_FOUND,
            format!(
                "Volume \"{}\" does not exist in Vserver \"{}\".",
                pv.get("name")
                    .or(pv.get("uuid"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                parent_svm.name
            ),
        )
        .with_target("clone.parent_volume")
    })
}

/// `clone.parent_snapshot` of `parent`, by UUID, name, or both (which must then agree).
fn parent_snapshot<'v>(ps: &Value, parent: &'v Volume) -> OntapResult<&'v Snapshot> {
    let by_uuid = ps
        .get("uuid")
        .and_then(Value::as_str)
        .map(|u| parent.snapshot(u));
    let by_name = ps
        .get("name")
        .and_then(Value::as_str)
        .map(|n| parent.snapshot_by_name(n));
    let snap = match (by_uuid, by_name) {
        (Some(a), Some(b)) => {
            if a.map(|s| &s.uuid) != b.map(|s| &s.uuid) {
                return Err(OntapError::bad_request(
                    codes::CLONE_SNAPSHOT_MISMATCH,
                    "The specified \"clone.parent_snapshot.uuid\" and \"clone.parent_snapshot.name\" refer to different Snapshot copies.",
                ));
            }
            a
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return Err(OntapError::missing_field("clone.parent_snapshot.name")),
    };
    snap.ok_or_else(|| {
        OntapError::bad_request(
            codes::CLONE_CREATE_FAILED,
            format!(
                "Failed to create clone. Reason: Snapshot copy \"{}\" does not exist in volume \"{}\".",
                ps.get("name").or(ps.get("uuid")).and_then(Value::as_str).unwrap_or(""),
                parent.name
            ),
        )
        .with_target("clone.parent_snapshot")
    })
}

/// The base snapshot to take of the parent; it stays empty here because its contents are those of the parent
/// when the job runs.
fn base_snapshot(clone_name: &str) -> Snapshot {
    let snap_name = format!(
        "clone_{clone_name}.{}",
        Utc::now().format("%Y-%m-%d_%H%M%S")
    );
    Snapshot {
        uuid: new_uuid(),
        name: snap_name,
        comment: None,
        create_time: Utc::now(),
        files: Default::default(),
        size: 0,
        volume_size: 0,
    }
}

fn clone_volume(
    req: &CreateRequest,
    parent: &Volume,
    snap_uuid: String,
    snap_name: String,
) -> Volume {
    Volume {
        uuid: req.uuid.clone(),
        name: req.name.to_string(),
        svm_uuid: req.svm.uuid.clone(),
        svm_name: req.svm.name.clone(),
        state: VolumeState::Online,
        vol_type: req.vol_type.clone(),
        size: parent.size,
        comment: req.comment.clone(),
        create_time: Utc::now(),
        nas_path: req.nas_path.clone(),
        // A FlexClone inherits the parent's export policy unless one is given.
        export_policy: req
            .body
            .pointer("/nas/export_policy/name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| parent.export_policy.clone()),
        security_style: parent.security_style.clone(),
        unix_permissions: parent.unix_permissions.clone(),
        aggregate: parent.aggregate.clone(),
        snapshot_policy: "none".into(),
        clone: Some(CloneOrigin {
            parent_volume_uuid: parent.uuid.clone(),
            parent_volume_name: parent.name.clone(),
            parent_snapshot_uuid: snap_uuid,
            parent_snapshot_name: snap_name,
            parent_svm_uuid: parent.svm_uuid.clone(),
            parent_svm_name: parent.svm_name.clone(),
        }),
        files: Default::default(),
        snapshots: Vec::new(),
        split_initiated: false,
    }
}

/// Run by the create job: takes the base snapshot if one is due, then gives `vol` the parent snapshot's
/// contents. The parent may have changed since the request was accepted, so it is looked up again.
pub(super) fn fill_from_parent(
    o: &mut Ontap,
    origin: &CloneOrigin,
    base: Option<&Snapshot>,
    vol: &mut Volume,
) -> OntapResult<()> {
    let parent = online_parent(o, origin)?;
    if let Some(base) = base {
        let mut base = base.clone();
        base.files = parent.files.clone();
        base.size = parent.files.logical_used();
        base.volume_size = parent.size;
        base.create_time = Utc::now();
        parent.snapshots.push(base);
    }
    let snap = parent
        .snapshot(&origin.parent_snapshot_uuid)
        .ok_or_else(|| {
            OntapError::bad_request(
                codes::CLONE_CREATE_FAILED,
                format!(
                    "Failed to create clone. Reason: Snapshot \"{}\" does not exist.",
                    origin.parent_snapshot_name
                ),
            )
        })?;
    // The clone starts as the snapshot's image, sharing every block with it.
    vol.files = snap.files.clone();
    vol.create_time = Utc::now();
    Ok(())
}

fn online_parent<'o>(o: &'o mut Ontap, origin: &CloneOrigin) -> OntapResult<&'o mut Volume> {
    let parent = o.volume_mut(&origin.parent_volume_uuid).ok_or_else(|| {
        OntapError::bad_request(
            codes::CLONE_PARENT_NOT_FOUND,
            format!(
                "Parent volume \"{}\" does not exist.",
                origin.parent_volume_name
            ),
        )
    })?;
    if !parent.is_online() {
        return Err(OntapError::bad_request(
            codes::CLONE_CREATE_FAILED,
            format!(
                "Failed to create clone. Reason: Volume \"{}\" is not online.",
                parent.name
            ),
        ));
    }
    Ok(parent)
}
