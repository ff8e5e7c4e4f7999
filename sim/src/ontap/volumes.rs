//! `/api/storage/volumes`: collection GET, GET one, PATCH (mount/unmount, state, comment, size, split, snapshot
//! restore), DELETE (into the volume recovery queue). POST lives in `volume_create` and `volume_clone`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::fs::{normalize, parent_of};
use super::jobs::{self, JobOp, Verb};
use super::query::{collection, FieldSel, QueryParams, Schema};
use super::state::{normalize_junction, DeletedVolume, Ontap, Volume, VolumeState};
use crate::scenario::parse_size;
use crate::world::Sim;

pub const SCHEMA: Schema = Schema {
    keys: &["uuid", "name"],
    default_fields: &[],
    // The documented "expensive" volume properties (GET /storage/volumes, 9.16.1) that the simulator models:
    // only returned when named in `fields` or with `fields=**`.
    expensive: &[
        "is_svm_root",
        "clone.parent_snapshot",
        "clone.parent_svm",
        "clone.parent_volume",
        "clone.split_complete_percent",
        "clone.split_estimate",
        "clone.split_initiated",
        "clone.inherited_physical_used",
        "files",
        "nas.export_policy.id",
        "nas.gid",
        "nas.path",
        "nas.security_style",
        "nas.uid",
        "nas.unix_permissions",
        "snapshot_policy.uuid",
        "space.block_storage_inactive_user_data",
        "space.over_provisioned",
        "space.logical_space",
        "space.snapshot",
        "guarantee",
    ],
    known: &[
        "uuid",
        "name",
        "svm.name",
        "svm.uuid",
        "state",
        "style",
        "type",
        "size",
        "comment",
        "create_time",
        "language",
        "aggregates.name",
        "aggregates.uuid",
        "snapshot_policy.name",
        "snapshot_policy.uuid",
        "snapshot_count",
        "is_svm_root",
        "guarantee.type",
        "guarantee.honored",
        "tiering.policy",
        "space",
        "nas.path",
        "nas.export_policy.name",
        "nas.export_policy.id",
        "nas.security_style",
        "nas.unix_permissions",
        "nas.uid",
        "nas.gid",
        "clone.is_flexclone",
        "clone.has_flexclone",
        "clone.parent_volume.name",
        "clone.parent_volume.uuid",
        "clone.parent_snapshot.name",
        "clone.parent_snapshot.uuid",
        "clone.parent_svm.name",
        "clone.parent_svm.uuid",
        "clone.split_initiated",
        "clone.split_estimate",
        "clone.split_complete_percent",
        "clone.inherited_physical_used",
        "files.used",
        "files.maximum",
    ],
    sort_keys: &["svm.name", "name"],
};

fn svm_ref(uuid: &str, name: &str) -> Value {
    json!({ "name": name, "uuid": uuid, "_links": { "self": { "href": format!("/api/svm/svms/{uuid}") } } })
}

fn vol_ref(uuid: &str, name: &str) -> Value {
    json!({ "name": name, "uuid": uuid, "_links": { "self": { "href": format!("/api/storage/volumes/{uuid}") } } })
}

/// The complete record of a volume (every field, expensive ones included).
pub fn to_json(o: &Ontap, v: &Volume) -> Value {
    let has_flexclone = o.clone_children(&v.uuid).next().is_some();
    render(o, v, has_flexclone)
}

/// UUIDs of volumes that are FlexClone parents, found in one pass so large collections stay linear.
fn clone_parents(o: &Ontap) -> std::collections::HashSet<&str> {
    o.volumes
        .iter()
        .chain(o.recovery_queue.iter().map(|d| &d.volume))
        .filter_map(|v| v.clone.as_ref().map(|c| c.parent_volume_uuid.as_str()))
        .collect()
}

pub fn all_to_json(o: &Ontap) -> Vec<Value> {
    let parents = clone_parents(o);
    o.volumes
        .iter()
        .map(|v| render(o, v, parents.contains(v.uuid.as_str())))
        .collect()
}

fn render(o: &Ontap, v: &Volume, has_flexclone: bool) -> Value {
    let space = v.space(o.clone_base(v));
    let reserve = v.size / 20;
    let afs_used = space.used - space.snapshot_used;
    let policy_id = o
        .export_policies
        .iter()
        .find(|p| p.svm_uuid == v.svm_uuid && p.name == v.export_policy)
        .map(|p| p.id)
        .unwrap_or(0);
    let aggr_uuid = o
        .aggregates
        .iter()
        .find(|a| a.name == v.aggregate)
        .map(|a| a.uuid.clone())
        .unwrap_or_default();
    let mut r = json!({
        "uuid": v.uuid,
        "name": v.name,
        "svm": svm_ref(&v.svm_uuid, &v.svm_name),
        "state": v.state.as_str(),
        "style": "flexvol",
        "type": v.vol_type,
        "size": v.size,
        "create_time": v.create_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "language": "c.utf_8",
        "aggregates": [{ "name": v.aggregate, "uuid": aggr_uuid }],
        "snapshot_policy": { "name": v.snapshot_policy, "uuid": super::state::scenario_uuid("snapshot-policy", &v.snapshot_policy) },
        "snapshot_count": v.snapshots.len(),
        "is_svm_root": false,
        "guarantee": { "type": "volume", "honored": true },
        "tiering": { "policy": "none" },
        "files": { "maximum": 31_122_909u64, "used": v.files.iter().count() + 96 },
        "space": {
            "size": v.size,
            "available": v.size.saturating_sub(reserve).saturating_sub(afs_used),
            "used": space.used,
            "afs_total": v.size.saturating_sub(reserve),
            "physical_used": space.used,
            "logical_space": {
                "used": space.logical_used,
                "used_by_afs": space.logical_used,
                "available": v.size.saturating_sub(reserve).saturating_sub(afs_used),
                "enforcement": false,
                "reporting": false,
            },
            "snapshot": { "used": space.snapshot_used, "reserve_percent": 5, "reserve_size": reserve },
            "block_storage_inactive_user_data": 0,
            "over_provisioned": 0,
        },
        "nas": {
            "export_policy": { "name": v.export_policy, "id": policy_id },
            "security_style": v.security_style,
            "unix_permissions": v.unix_permissions.parse::<u32>().unwrap_or(755),
            "uid": 0,
            "gid": 0,
        },
        "clone": {
            "is_flexclone": v.clone.is_some(),
            "has_flexclone": has_flexclone,
        },
        "_links": { "self": { "href": format!("/api/storage/volumes/{}", v.uuid) } },
    });
    if let Some(c) = &v.comment {
        r["comment"] = json!(c);
    }
    if let Some(p) = &v.nas_path {
        r["nas"]["path"] = json!(p);
    }
    if let Some(c) = &v.clone {
        r["clone"]["parent_volume"] = vol_ref(&c.parent_volume_uuid, &c.parent_volume_name);
        r["clone"]["parent_snapshot"] = json!({
            "name": c.parent_snapshot_name,
            "uuid": c.parent_snapshot_uuid,
            "_links": { "self": { "href": format!("/api/storage/volumes/{}/snapshots/{}", c.parent_volume_uuid, c.parent_snapshot_uuid) } },
        });
        r["clone"]["parent_svm"] = svm_ref(&c.parent_svm_uuid, &c.parent_svm_name);
        r["clone"]["split_initiated"] = json!(v.split_initiated);
        r["clone"]["split_estimate"] = json!(space.inherited);
        r["clone"]["split_complete_percent"] = json!(0);
        r["clone"]["inherited_physical_used"] = json!(space.inherited);
    }
    r
}

/// Fields of `cheap_view`: filters and `order_by` on these need no full rendering (space accounting etc.).
const CHEAP: Schema = Schema {
    keys: &["uuid", "name"],
    default_fields: &[],
    expensive: &[],
    known: &[
        "uuid",
        "name",
        "svm.name",
        "svm.uuid",
        "state",
        "style",
        "type",
        "size",
        "comment",
        "create_time",
        "nas.path",
        "nas.export_policy.name",
        "clone.is_flexclone",
        "clone.parent_volume.name",
        "clone.parent_volume.uuid",
        "clone.parent_snapshot.name",
        "clone.parent_snapshot.uuid",
        "clone.split_initiated",
        "snapshot_count",
    ],
    sort_keys: &[],
};

fn cheap_view(v: &Volume) -> Value {
    let mut r = json!({
        "uuid": v.uuid, "name": v.name, "svm": { "name": v.svm_name, "uuid": v.svm_uuid },
        "state": v.state.as_str(), "style": "flexvol", "type": v.vol_type, "size": v.size,
        "create_time": v.create_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "nas": { "export_policy": { "name": v.export_policy } },
        "clone": { "is_flexclone": v.clone.is_some() },
        "snapshot_count": v.snapshots.len(),
    });
    if let Some(c) = &v.comment {
        r["comment"] = json!(c);
    }
    if let Some(p) = &v.nas_path {
        r["nas"]["path"] = json!(p);
    }
    if let Some(c) = &v.clone {
        r["clone"]["parent_volume"] =
            json!({ "name": c.parent_volume_name, "uuid": c.parent_volume_uuid });
        r["clone"]["parent_snapshot"] =
            json!({ "name": c.parent_snapshot_name, "uuid": c.parent_snapshot_uuid });
        r["clone"]["split_initiated"] = json!(v.split_initiated);
    }
    r
}

pub async fn get_collection(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let cheap = super::query::referenced_fields(&q, &[])
        .iter()
        .all(|f| super::query::is_known(&CHEAP, f));
    sim.read(|w| {
        let o = &w.ontap;
        if cheap {
            let views = o.volumes.iter().map(cheap_view).collect();
            let parents = clone_parents(o);
            let full = |i: usize, _: &Value| {
                let v = &o.volumes[i];
                render(o, v, parents.contains(v.uuid.as_str()))
            };
            super::query::collection_with("/api/storage/volumes", &q, &SCHEMA, views, full, &[])
        } else {
            collection("/api/storage/volumes", &q, &SCHEMA, all_to_json(o), &[])
        }
    })
    .map(Json)
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["fields", "return_timeout", "ignore_unknown_fields"], None)?;
    let sel = FieldSel::parse(&q, &SCHEMA)?;
    let full = sim
        .read(|w| w.ontap.volume(&uuid).map(|v| to_json(&w.ontap, v)))
        .ok_or_else(|| OntapError::not_found("uuid"))?;
    Ok(Json(sel.project(&full, &SCHEMA, true)))
}

/// Volume names: letter or `_` first, then letters, digits, `_`; at most 203 characters.
pub fn validate_name(name: &str) -> OntapResult<()> {
    if name.len() > 203 {
        return Err(OntapError::bad_request(
            codes::VOLUME_NAME_TOO_LONG,
            format!("Cannot create volume. Reason: The name \"{name}\" is too long. Maximum supported length is 203 characters."),
        )
        .with_target("name"));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(OntapError::bad_request(
            codes::VOLUME_NAME_BAD_START,
            format!(
                "Invalid volume name \"{name}\". Volume names must begin with a letter or an underscore and contain only letters, digits and underscores."
            ),
        )
        .with_target("name"));
    }
    Ok(())
}

/// Junction paths start with `/`, do not end with `/` and are unique in the SVM namespace.
pub(super) fn validate_junction(
    o: &Ontap,
    svm_uuid: &str,
    path: &str,
    except_uuid: Option<&str>,
) -> OntapResult<()> {
    let bad = || {
        OntapError::bad_request(
            codes::NAS_PATH_INVALID,
            format!("The value \"{path}\" is invalid for field \"nas.path\"."),
        )
        .with_target("nas.path")
    };
    if !path.starts_with('/') || (path.len() > 1 && path.ends_with('/')) || path.contains("//") {
        return Err(bad());
    }
    if path == "/" {
        return Err(bad());
    }
    let want = normalize_junction(path);
    let taken = o.volumes.iter().any(|v| {
        v.svm_uuid == svm_uuid
            && Some(v.uuid.as_str()) != except_uuid
            && v.nas_path
                .as_deref()
                .is_some_and(|p| normalize_junction(p).eq_ignore_ascii_case(&want))
    });
    if taken {
        return Err(OntapError::bad_request(
            codes::NAS_PATH_INVALID,
            format!("Failed to mount volume at junction path \"{path}\". Reason: Junction path is already in use by another volume."),
        )
        .with_target("nas.path"));
    }
    Ok(())
}

pub(super) fn size_value(v: &Value, field: &str) -> OntapResult<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| OntapError::invalid_value(field, &n.to_string())),
        Value::String(s) => parse_size(s).ok_or_else(|| OntapError::invalid_value(field, s)),
        other => Err(OntapError::invalid_value(field, &other.to_string())),
    }
}

/// Changes applied by a PATCH job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PatchOp {
    pub uuid: String,
    /// `Some(None)` unmounts.
    pub nas_path: Option<Option<String>>,
    pub state: Option<VolumeState>,
    pub comment: Option<String>,
    pub size: Option<u64>,
    pub export_policy: Option<String>,
    pub name: Option<String>,
    pub snapshot_policy: Option<String>,
    pub split: bool,
    /// Snapshot UUID to restore (the whole volume, or one file with `restore_file`).
    pub restore: Option<String>,
    /// `restore_to.path` (+ `restore_to.restore_path`): put back one file of the snapshot instead.
    #[serde(default)]
    pub restore_file: Option<FileRestore>,
}

/// A single-file restore from a snapshot (`volume snapshot restore-file`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRestore {
    /// The file in the snapshot.
    pub path: String,
    /// Where it goes in the active file system (default: `path`).
    pub restore_path: Option<String>,
}

impl PatchOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let svm_uuid = o
            .volume(&self.uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?
            .svm_uuid
            .clone();
        if let Some(Some(p)) = &self.nas_path {
            validate_junction(o, &svm_uuid, p, Some(&self.uuid))?;
        }
        if let Some(n) = &self.name {
            if o.volumes
                .iter()
                .any(|x| x.svm_uuid == svm_uuid && &x.name == n && x.uuid != self.uuid)
            {
                return Err(OntapError::new(
                    409,
                    codes::VOLUME_NAME_DUPLICATE,
                    format!("Duplicate volume name {n}."),
                ));
            }
            let uuid = self.uuid.clone();
            // FlexClones and recovery-queue entries refer to their parent by name too.
            for child in o
                .volumes
                .iter_mut()
                .chain(o.recovery_queue.iter_mut().map(|d| &mut d.volume))
            {
                if let Some(c) = child
                    .clone
                    .as_mut()
                    .filter(|c| c.parent_volume_uuid == uuid)
                {
                    c.parent_volume_name = n.clone();
                }
            }
            o.volume_mut(&self.uuid).expect("exists").name = n.clone();
        }
        if let Some(snap_uuid) = &self.restore {
            match &self.restore_file {
                Some(f) => restore_file(o, &self.uuid, snap_uuid, f)?,
                None => restore(o, &self.uuid, snap_uuid)?,
            }
        }
        let v = o
            .volume_mut(&self.uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        if let Some(s) = self.state {
            v.state = s;
            if s != VolumeState::Online {
                v.nas_path = None;
            }
        }
        if let Some(p) = &self.nas_path {
            if p.is_some() && !v.is_online() {
                return Err(OntapError::bad_request(
                    codes::VOLUME_NOT_ONLINE,
                    format!(
                        "Volume \"{}\" in Vserver \"{}\" is not online.",
                        v.name, v.svm_name
                    ),
                ));
            }
            v.nas_path = p.clone();
        }
        if let Some(c) = &self.comment {
            v.comment = if c.is_empty() { None } else { Some(c.clone()) };
        }
        if let Some(s) = self.size {
            v.size = s;
        }
        if let Some(p) = &self.export_policy {
            v.export_policy = p.clone();
        }
        if let Some(p) = &self.snapshot_policy {
            v.snapshot_policy = p.clone();
        }
        if self.split {
            // Split done: the clone owns its blocks and no longer pins the parent snapshot.
            v.clone = None;
            v.split_initiated = false;
        }
        Ok(())
    }
}

/// `Snapshot copy "<snapshot>" does not exist in volume "<volume>".` under the caller's code (REST: 918251 with
/// the `restore_to.snapshot.*` target; CLI passthrough: its generic CLI error).
pub fn snapshot_missing(code: &str, snapshot: &str, volume: &str) -> OntapError {
    OntapError::bad_request(
        code,
        format!("Snapshot copy \"{snapshot}\" does not exist in volume \"{volume}\"."),
    )
}

/// 524511, NetApp's "Failed to restore snapshot \"restore_to.snapshot.name\"." with the reason appended.
fn restore_failed(snapshot: &str, reason: impl std::fmt::Display) -> OntapError {
    OntapError::bad_request(
        codes::RESTORE_FAILED,
        format!("Failed to restore snapshot \"{snapshot}\". Reason: {reason}"),
    )
}

fn require_online(v: &Volume) -> OntapResult<()> {
    if v.is_online() {
        return Ok(());
    }
    Err(OntapError::bad_request(
        codes::VOLUME_NOT_ONLINE,
        format!(
            "Volume \"{}\" in Vserver \"{}\" is not online.",
            v.name, v.svm_name
        ),
    ))
}

/// Reverts a volume to a snapshot as `volume snapshot restore` does: the active file system (and with it the space
/// accounting, which derives from the trees) becomes the snapshot's, the snapshot itself and older ones stay, newer
/// ones are deleted, and the size becomes the larger of the current size and the size when the snapshot was taken.
/// Refused while a newer snapshot backs a FlexClone, also one waiting in the recovery queue; FlexClones of the target
/// snapshot or of older ones do not matter.
pub fn restore(o: &mut Ontap, vol_uuid: &str, snap_uuid: &str) -> OntapResult<()> {
    let v = o
        .volume(vol_uuid)
        .ok_or_else(|| OntapError::not_found("uuid"))?;
    require_online(v)?;
    let idx = v
        .snapshots
        .iter()
        .position(|s| s.uuid == snap_uuid)
        .ok_or_else(|| {
            snapshot_missing(codes::RESTORE_INVALID, snap_uuid, &v.name)
                .with_target("restore_to.snapshot.uuid")
        })?;
    let target = &v.snapshots[idx];
    for newer in &v.snapshots[idx + 1..] {
        let owners = o.snapshot_clone_owners(vol_uuid, &newer.uuid);
        if !owners.is_empty() {
            return Err(restore_failed(
                &target.name,
                format_args!(
                    "newer snapshot \"{}\" is in use by FlexClone volume(s): {}.",
                    newer.name,
                    owners.join(", ")
                ),
            ));
        }
    }
    let v = o.volume_mut(vol_uuid).expect("checked above");
    let snap = &v.snapshots[idx];
    v.files = snap.files.clone();
    v.size = v.size.max(snap.volume_size);
    v.snapshots.truncate(idx + 1);
    Ok(())
}

/// Puts one file of a snapshot back into the active file system (`volume snapshot restore-file`; REST
/// `restore_to.path`): an existing destination is overwritten, a missing one created; directories are refused.
/// Snapshots are left alone.
pub fn restore_file(
    o: &mut Ontap,
    vol_uuid: &str,
    snap_uuid: &str,
    f: &FileRestore,
) -> OntapResult<()> {
    let v = o
        .volume(vol_uuid)
        .ok_or_else(|| OntapError::not_found("uuid"))?;
    require_online(v)?;
    let snap = v.snapshot(snap_uuid).ok_or_else(|| {
        snapshot_missing(codes::RESTORE_INVALID, snap_uuid, &v.name)
            .with_target("restore_to.snapshot.uuid")
    })?;
    let bad_path = |p: &str| restore_failed(&snap.name, format_args!("invalid path \"{p}\"."));
    let src_path = normalize(&f.path).map_err(|_| bad_path(&f.path))?;
    let src = match snap.files.get(&src_path) {
        Some(n) if n.is_dir() => {
            return Err(restore_failed(
                &snap.name,
                format_args!("\"{}\" is a directory; only files can be restored.", f.path),
            ))
        }
        Some(n) => n.clone(),
        None => {
            return Err(restore_failed(
                &snap.name,
                format_args!("file \"{}\" does not exist in the snapshot.", f.path),
            ))
        }
    };
    let dest_raw = f.restore_path.as_deref().unwrap_or(&f.path);
    let dest = normalize(dest_raw).map_err(|_| bad_path(dest_raw))?;
    if dest.is_empty() || dest == ".snapshot" || dest.starts_with(".snapshot/") {
        return Err(bad_path(dest_raw));
    }
    if !v.files.is_dir(parent_of(&dest)) {
        return Err(restore_failed(
            &snap.name,
            format_args!(
                "destination directory \"{}\" does not exist.",
                parent_of(&dest)
            ),
        ));
    }
    if v.files.get(&dest).is_some_and(|n| n.is_dir()) {
        return Err(restore_failed(
            &snap.name,
            format_args!("destination \"{dest_raw}\" is a directory."),
        ));
    }
    let name = snap.name.clone();
    let v = o.volume_mut(vol_uuid).expect("checked above");
    v.files
        .put_clone(&dest, &src, true)
        .map_err(|e| restore_failed(&name, e))
}

/// Body fields a PATCH may not combine with `restore_to`.
const NOT_WITH_RESTORE: &[&str] = &[
    "nas",
    "state",
    "comment",
    "size",
    "clone",
    "name",
    "snapshot_policy",
];

/// Reads `restore_to.*` from the query (as documented) or the body (as NetApp's Ansible modules send it) and
/// resolves the snapshot. `None` when the PATCH is no restore.
fn parse_restore(
    v: &Volume,
    q: &QueryParams,
    b: &Value,
) -> OntapResult<Option<(String, Option<FileRestore>)>> {
    if let Some(r) = b.get("restore_to") {
        let obj = r
            .as_object()
            .ok_or_else(|| OntapError::invalid_value("restore_to", &r.to_string()))?;
        for (k, val) in obj {
            match k.as_str() {
                "path" | "restore_path" | "start_byte" | "byte_count" => {}
                "snapshot" => {
                    let snap = val.as_object().ok_or_else(|| {
                        OntapError::invalid_value("restore_to.snapshot", &val.to_string())
                    })?;
                    if let Some(k) = snap.keys().find(|k| *k != "name" && *k != "uuid") {
                        return Err(OntapError::unexpected_argument(&format!(
                            "restore_to.snapshot.{k}"
                        )));
                    }
                }
                other => {
                    return Err(OntapError::unexpected_argument(&format!(
                        "restore_to.{other}"
                    )))
                }
            }
        }
    }
    let arg = |key: &str| -> OntapResult<Option<String>> {
        let field = format!("restore_to.{key}");
        if let Some(x) = q.get(&field) {
            return Ok(Some(x.to_string()));
        }
        match b.pointer(&format!("/restore_to/{}", key.replace('.', "/"))) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(x)) => Ok(Some(x.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(OntapError::invalid_value(&field, &other.to_string())),
        }
    };
    let name = arg("snapshot.name")?;
    let uuid = arg("snapshot.uuid")?;
    let path = arg("path")?;
    let restore_path = arg("restore_path")?;
    for ranged in ["start_byte", "byte_count"] {
        if arg(ranged)?.is_some() {
            return Err(OntapError::bad_request(
                codes::NOT_SUPPORTED,
                "Partial file restores (\"restore_to.start_byte\", \"restore_to.byte_count\") are not supported by the simulator.",
            )
            .with_target(format!("restore_to.{ranged}")));
        }
    }
    if name.is_none() && uuid.is_none() {
        if path.is_some() || restore_path.is_some() {
            return Err(OntapError::missing_field("restore_to.snapshot.name"));
        }
        return Ok(None);
    }
    if restore_path.is_some() && path.is_none() {
        return Err(OntapError::missing_field("restore_to.path"));
    }
    if let Some(field) = NOT_WITH_RESTORE.iter().find(|f| b.get(**f).is_some()) {
        return Err(OntapError::bad_request(
            codes::RESTORE_INVALID,
            format!(
                "Specifying a value for \"{field}\" is not valid for a snapshot restore operation."
            ),
        )
        .with_target(*field));
    }
    let snap = match (&uuid, &name) {
        (Some(u), n) => {
            let s = v.snapshot(u).ok_or_else(|| {
                snapshot_missing(codes::RESTORE_INVALID, u, &v.name)
                    .with_target("restore_to.snapshot.uuid")
            })?;
            if n.as_ref().is_some_and(|n| *n != s.name) {
                return Err(OntapError::bad_request(
                    codes::RESTORE_INVALID,
                    "\"restore_to.snapshot.uuid\" and \"restore_to.snapshot.name\" refer to different snapshots.",
                )
                .with_target("restore_to.snapshot.name"));
            }
            s
        }
        (None, Some(n)) => v.snapshot_by_name(n).ok_or_else(|| {
            snapshot_missing(codes::RESTORE_INVALID, n, &v.name)
                .with_target("restore_to.snapshot.name")
        })?,
        (None, None) => unreachable!("checked above"),
    };
    let file = path.map(|path| FileRestore { path, restore_path });
    Ok(Some((snap.uuid.clone(), file)))
}

pub async fn patch(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(
        &[
            "return_timeout",
            "restore_to.snapshot.name",
            "restore_to.snapshot.uuid",
            "restore_to.path",
            "restore_to.restore_path",
            "restore_to.start_byte",
            "restore_to.byte_count",
            "preserve_lun_ids",
        ],
        None,
    )?;
    let timeout = q.return_timeout()?;
    // LUN identities: the simulator has no LUNs, so only the value is checked.
    q.bool("preserve_lun_ids")?;
    let b = body.0;
    super::body::check_fields(
        &b,
        &[
            "nas",
            "state",
            "comment",
            "size",
            "clone",
            "restore_to",
            "name",
            "snapshot_policy",
        ],
    )?;
    let sim2 = sim.clone();
    let job = sim.mutate(|w| -> OntapResult<String> {
        let o = &mut w.ontap;
        let v = o
            .volume(&uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        let mut op = PatchOp {
            uuid: uuid.clone(),
            ..Default::default()
        };
        if let Some(p) = b.pointer("/nas/path") {
            let p = p
                .as_str()
                .ok_or_else(|| OntapError::invalid_value("nas.path", &p.to_string()))?;
            if p.is_empty() {
                op.nas_path = Some(None);
            } else {
                validate_junction(o, &v.svm_uuid, p, Some(&uuid))?;
                op.nas_path = Some(Some(p.to_string()));
            }
        }
        if let Some(p) = b.pointer("/nas/export_policy/name").and_then(Value::as_str) {
            if !o
                .export_policies
                .iter()
                .any(|x| x.svm_uuid == v.svm_uuid && x.name == p)
            {
                return Err(OntapError::bad_request(
                    "1703954",
                    format!("Export policy \"{p}\" does not exist."),
                )
                .with_target("nas.export_policy.name"));
            }
            op.export_policy = Some(p.to_string());
        }
        if let Some(s) = b.get("state") {
            let s = s.as_str().unwrap_or_default();
            op.state =
                Some(VolumeState::parse(s).ok_or_else(|| OntapError::invalid_value("state", s))?);
        }
        if let Some(c) = b.get("comment") {
            op.comment = Some(c.as_str().unwrap_or_default().to_string());
        }
        if let Some(n) = b.get("name") {
            let n = n
                .as_str()
                .ok_or_else(|| OntapError::invalid_value("name", &n.to_string()))?;
            validate_name(n)?;
            if o.volume_by_name(&v.svm_uuid, n)
                .is_some_and(|x| x.uuid != uuid)
            {
                return Err(OntapError::new(
                    409,
                    codes::VOLUME_NAME_DUPLICATE,
                    format!("Duplicate volume name {n}."),
                )
                .with_target("name"));
            }
            op.name = Some(n.to_string());
        }
        if let Some(p) = b.pointer("/snapshot_policy/name") {
            op.snapshot_policy = Some(
                p.as_str()
                    .ok_or_else(|| {
                        OntapError::invalid_value("snapshot_policy.name", &p.to_string())
                    })?
                    .to_string(),
            );
        }
        if let Some(s) = b.get("size") {
            op.size = Some(size_value(s, "size")?);
        }
        if let Some(split) = b.pointer("/clone/split_initiated") {
            match split.as_bool() {
                Some(true) if v.clone.is_some() => op.split = true,
                Some(true) => {
                    return Err(OntapError::bad_request(
                        codes::SPLIT_INVALID,
                        format!("Volume \"{}\" is not a FlexClone volume.", v.name),
                    )
                    .with_target("clone.split_initiated"))
                }
                Some(false) => {}
                None => {
                    return Err(OntapError::invalid_value(
                        "clone.split_initiated",
                        &split.to_string(),
                    ))
                }
            }
        }
        if let Some((snap, file)) = parse_restore(v, &q, &b)? {
            op.restore = Some(snap);
            op.restore_file = file;
        }
        if op.split && v.split_initiated {
            return Err(OntapError::bad_request(
                codes::SPLIT_INVALID,
                "A clone split is already in progress.",
            ));
        }
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        if op.split {
            o.volume_mut(&uuid).expect("exists").split_initiated = true;
        }
        Ok(jobs::submit(
            &sim2,
            o,
            format!("PATCH /api/storage/volumes/{uuid}"),
            svm,
            JobOp::VolumePatch(op),
        ))
    })?;
    Ok(jobs::respond(&sim, &job, timeout, Verb::Patch, None, None).await)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteOp {
    pub uuid: String,
    /// Bypass the recovery queue.
    pub force: bool,
}

impl DeleteOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let v = o
            .volume(&self.uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        let children: Vec<String> = o
            .clone_children(&self.uuid)
            .map(|(c, queued)| {
                if queued {
                    format!("{} (in the volume recovery queue)", c.name)
                } else {
                    c.name.clone()
                }
            })
            .collect();
        if !children.is_empty() {
            return Err(OntapError::bad_request(
                codes::VOLUME_HAS_CLONES,
                format!(
                    "Volume \"{}\" in Vserver \"{}\" has one or more clones: {}. Delete or split the clones first.",
                    v.name,
                    v.svm_name,
                    children.join(", ")
                ),
            ));
        }
        let idx = o
            .volumes
            .iter()
            .position(|x| x.uuid == self.uuid)
            .expect("found above");
        let mut vol = o.volumes.remove(idx);
        vol.state = VolumeState::Offline;
        vol.nas_path = None;
        let retention = o.recovery_retention_hours;
        if !self.force && retention > 0 {
            let dsid = 1000 + o.recovery_queue.len() as u64 + o.volumes.len() as u64;
            let queued_name = format!("{}_{}", vol.name, dsid);
            o.recovery_queue.push(DeletedVolume {
                volume: vol,
                queued_name,
                deleted_at: Utc::now(),
            });
        }
        Ok(())
    }
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_timeout", "force"], None)?;
    let timeout = q.return_timeout()?;
    let force = q.bool("force")?.unwrap_or(false);
    let sim2 = sim.clone();
    let job = sim.mutate(|w| -> OntapResult<String> {
        let o = &mut w.ontap;
        let v = o
            .volume(&uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        Ok(jobs::submit(
            &sim2,
            o,
            format!("DELETE /api/storage/volumes/{uuid}"),
            svm,
            JobOp::VolumeDelete(DeleteOp {
                uuid: uuid.clone(),
                force,
            }),
        ))
    })?;
    Ok(jobs::respond(&sim, &job, timeout, Verb::Delete, None, None).await)
}
