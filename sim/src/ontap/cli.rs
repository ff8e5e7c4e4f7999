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

/// `POST /api/private/cli/volume/snapshot/restore` `{"vserver", "volume", "snapshot"}` — synchronous like the
/// CLI command.
pub async fn snapshot_restore(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let b = body.0;
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
        let s = v.snapshot_by_name(snapshot).ok_or_else(|| {
            OntapError::bad_request(
                codes::CLI_ERROR,
                format!("Snapshot copy \"{snapshot}\" does not exist in volume \"{volume}\"."),
            )
        })?;
        let (vu, su) = (v.uuid.clone(), s.uuid.clone());
        super::volumes::restore(o, &vu, &su)
    })?;
    Ok(Json(json!({})))
}
