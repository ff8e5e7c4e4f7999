//! The private CLI passthrough (`/api/private/cli/...`) for the commands clients use it for:
//! `volume recovery-queue show|purge|recover` and `volume snapshot restore`. Bodies and queries use CLI
//! parameter names (`vserver`, `volume`, `snapshot`).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::query::{collection, glob_ci, QueryParams, Schema};
use super::state::Ontap;
use crate::world::Sim;

const QUEUE_SCHEMA: Schema = Schema {
    keys: &["vserver", "volume"],
    default_fields: &[],
    expensive: &[],
    known: &[
        "vserver",
        "volume",
        "original_name",
        "deletion_request_time",
        "retention_hours",
        "volume_uuid",
        "size",
    ],
    sort_keys: &["vserver", "volume"],
};

fn queue(o: &Ontap) -> Vec<Value> {
    o.recovery_queue
        .iter()
        .map(|d| {
            json!({
                "vserver": d.volume.svm_name,
                "volume": d.queued_name,
                "original_name": d.volume.name,
                "volume_uuid": d.volume.uuid,
                "deletion_request_time": d.deleted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "retention_hours": o.recovery_retention_hours,
                "size": d.volume.size,
            })
        })
        .collect()
}

/// `GET /api/private/cli/volume/recovery-queue` (= `volume recovery-queue show`).
pub async fn recovery_queue_show(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let records = sim.mutate(|w| {
        w.ontap.expire_recovery_queue(Utc::now());
        queue(&w.ontap)
    });
    collection(
        "/api/private/cli/volume/recovery-queue",
        &q,
        &QUEUE_SCHEMA,
        records,
        &["privilege_level"],
    )
    .map(Json)
}

fn cli_arg<'a>(b: &'a Value, q: &'a QueryParams, name: &str) -> Option<&'a str> {
    b.get(name).and_then(Value::as_str).or_else(|| q.get(name))
}

/// A boolean CLI parameter: JSON `true`/`false` in the body, or `true`/`false` in the query.
fn cli_bool(b: &Value, q: &QueryParams, name: &str) -> OntapResult<Option<bool>> {
    match b.get(name) {
        None => q.bool(name),
        Some(Value::Bool(x)) => Ok(Some(*x)),
        Some(Value::String(x)) if x.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(x)) if x.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(OntapError::invalid_value(name, &other.to_string())),
    }
}

/// Refuses parameters the command does not have (body fields or query parameters; `privilege_level` is the
/// passthrough's own query parameter, which netapp-ontap's `CLI.execute` always sends).
fn check_cli_args(b: &Value, q: &QueryParams, params: &[&str]) -> OntapResult<()> {
    super::body::check_fields(b, params)?;
    let mut allowed = params.to_vec();
    allowed.push("privilege_level");
    q.check(&allowed, None)
}

/// `POST /api/private/cli/volume/recovery-queue/purge` `{"vserver": "svm1", "volume": "vol_1234"}`
/// (`volume` may be a pattern such as `*`). Purging releases what the queued volume held (e.g. a FlexClone's
/// parent snapshot).
pub async fn recovery_queue_purge(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let b = body.0;
    check_cli_args(&b, &q, &["vserver", "volume"])?;
    let purged = sim.mutate(|w| -> OntapResult<usize> {
        let vserver =
            cli_arg(&b, &q, "vserver").ok_or_else(|| OntapError::missing_field("vserver"))?;
        let volume =
            cli_arg(&b, &q, "volume").ok_or_else(|| OntapError::missing_field("volume"))?;
        let before = w.ontap.recovery_queue.len();
        w.ontap
            .recovery_queue
            .retain(|d| !(glob_ci(vserver, &d.volume.svm_name) && glob_ci(volume, &d.queued_name)));
        let n = before - w.ontap.recovery_queue.len();
        if n == 0 {
            return Err(OntapError::new(
                404,
                codes::NOT_FOUND,
                format!(
                    "Volume \"{volume}\" in Vserver \"{vserver}\" is not in the recovery queue."
                ),
            ));
        }
        Ok(n)
    })?;
    Ok(Json(json!({ "num_records": purged })))
}

/// `POST /api/private/cli/volume/recovery-queue/recover` `{"vserver", "volume"}`: brings a deleted volume back
/// (under its original name, unmounted).
pub async fn recovery_queue_recover(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let b = body.0;
    check_cli_args(&b, &q, &["vserver", "volume"])?;
    sim.mutate(|w| -> OntapResult<()> {
        let vserver =
            cli_arg(&b, &q, "vserver").ok_or_else(|| OntapError::missing_field("vserver"))?;
        let volume =
            cli_arg(&b, &q, "volume").ok_or_else(|| OntapError::missing_field("volume"))?;
        let o = &mut w.ontap;
        let idx = o
            .recovery_queue
            .iter()
            .position(|d| d.volume.svm_name == vserver && d.queued_name == volume)
            .ok_or_else(|| {
                OntapError::new(
                    404,
                    codes::NOT_FOUND,
                    format!("Volume \"{volume}\" is not in the recovery queue."),
                )
            })?;
        let mut vol = o.recovery_queue[idx].volume.clone();
        if o.volume_by_name(&vol.svm_uuid, &vol.name).is_some() {
            return Err(OntapError::new(
                409,
                codes::VOLUME_NAME_DUPLICATE,
                format!("Duplicate volume name {}.", vol.name),
            ));
        }
        o.recovery_queue.remove(idx);
        vol.state = super::state::VolumeState::Online;
        o.volumes.push(vol);
        Ok(())
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/private/cli/volume/snapshot/restore` `{"vserver", "volume", "snapshot", "force"?, "preserve_lun_ids"?}`
/// (= `volume snapshot restore`), synchronous like the CLI command. The snapshot and older ones stay, newer ones
/// are deleted; refused (524511) while a newer snapshot backs a FlexClone. `force` only overrides newer snapshots
/// that SnapMirror uses as reference (not FlexClones), and the simulator has neither SnapMirror nor LUNs, so
/// `force` and `preserve_lun_ids` are checked but change nothing.
pub async fn snapshot_restore(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let b = body.0;
    check_cli_args(
        &b,
        &q,
        &["vserver", "volume", "snapshot", "force", "preserve_lun_ids"],
    )?;
    cli_bool(&b, &q, "force")?;
    cli_bool(&b, &q, "preserve_lun_ids")?;
    sim.mutate(|w| -> OntapResult<()> {
        let vserver =
            cli_arg(&b, &q, "vserver").ok_or_else(|| OntapError::missing_field("vserver"))?;
        let volume =
            cli_arg(&b, &q, "volume").ok_or_else(|| OntapError::missing_field("volume"))?;
        let snapshot =
            cli_arg(&b, &q, "snapshot").ok_or_else(|| OntapError::missing_field("snapshot"))?;
        let o = &mut w.ontap;
        let svm = o.svm_by_name(vserver).ok_or_else(|| {
            OntapError::bad_request(
                codes::CLI_ERROR,
                format!("Vserver \"{vserver}\" does not exist."),
            )
        })?;
        let v = o.volume_by_name(&svm.uuid, volume).ok_or_else(|| {
            OntapError::bad_request(
                codes::CLI_ERROR,
                format!("Volume \"{volume}\" in Vserver \"{vserver}\" does not exist."),
            )
        })?;
        let s = v
            .snapshot_by_name(snapshot)
            .ok_or_else(|| super::volumes::snapshot_missing(codes::CLI_ERROR, snapshot, volume))?;
        let (vu, su) = (v.uuid.clone(), s.uuid.clone());
        super::volumes::restore(o, &vu, &su)
    })?;
    Ok(Json(json!({})))
}
