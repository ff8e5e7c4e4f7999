//! Create/update path of a VolumeSnapshotSchedule: one slot's VolumeSnapshot when due, retention, status.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::owned::{self, SCHEDULE_LABEL, SLOT_ANNOTATION};
use super::retention::{self, Entry, Policy};
use super::slots::{self, Due};
use crate::api::{FlexCloneMount, Phase, VolumeSnapshot, VolumeSnapshotSchedule};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::status::StatusWriter;

type Writer = StatusWriter<VolumeSnapshotSchedule>;

/// Longest wait between two looks, however far the next slot is (a changed spec or a missed wake-up).
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A schedule's own VolumeSnapshot with its slot.
pub struct Owned {
    pub vs: VolumeSnapshot,
    pub slot: DateTime<Utc>,
}

impl Owned {
    fn ready(&self) -> bool {
        self.vs.status.as_ref().is_some_and(|s| s.ready_to_use)
    }
}

pub fn to_time(t: DateTime<Utc>) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .ok()
        .map(Time)
}

fn from_time(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), 0)
}

/// The schedule's own VolumeSnapshots, oldest slot first.
pub async fn list_owned(ctx: &Context, obj: &VolumeSnapshotSchedule) -> Result<Vec<Owned>, Error> {
    let api =
        Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let (name, uid) = (obj.name_any(), obj.uid().unwrap_or_default());
    let mut out: Vec<Owned> = api
        .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={name}")))
        .await?
        .items
        .into_iter()
        .filter_map(|vs| {
            let slot = owned::own_slot(&vs, &ctx.settings.cluster_id, &name, &uid)?;
            Some(Owned { vs, slot })
        })
        .collect();
    out.sort_by_key(|o| o.slot);
    Ok(out)
}

pub async fn apply(obj: Arc<VolumeSnapshotSchedule>, ctx: Arc<Context>) -> Result<Action, Error> {
    let spec = &obj.spec;
    let schedule =
        slots::parse(&spec.schedule, spec.time_zone.as_deref()).map_err(Error::InvalidSpec)?;
    let tz: chrono_tz::Tz = match spec.time_zone.as_deref() {
        Some(name) => name.parse().map_err(|_| {
            Error::InvalidSpec(format!("timeZone {name:?}: not an IANA time zone name"))
        })?,
        None => chrono_tz::UTC,
    };
    let mut w: Writer = StatusWriter::new(&ctx, obj.as_ref());
    let now = ctx.settings.clock.now();
    let all = list_owned(&ctx, &obj).await?;
    // Expired (or otherwise deleted) snapshots on their way out no longer count; their names stay taken.
    let taken: Vec<String> = all.iter().map(|o| o.vs.name_any()).collect();
    let mut owned: Vec<Owned> = all
        .into_iter()
        .filter(|o| o.vs.metadata.deletion_timestamp.is_none())
        .collect();

    if !spec.suspend {
        take_due_slot(&ctx, &obj, &mut w, &schedule, now, &taken, &mut owned).await?;
    }
    expire(&ctx, &obj, &mut w, tz, &mut owned).await?;

    let st = &mut w.status;
    st.active = owned
        .iter()
        .filter(|o| !o.ready())
        .map(|o| o.vs.name_any())
        .collect();
    st.kept = owned.len() as u32;
    if let Some(t) = owned.iter().rev().find(|o| o.ready()).map(|o| o.slot) {
        st.last_successful_time = to_time(t);
    }
    let next = schedule.next_after(now);
    st.next_schedule_time = if spec.suspend {
        None
    } else {
        next.and_then(to_time)
    };
    let msg = match (spec.suspend, next) {
        (true, _) => format!("suspended; {} snapshot(s) kept", owned.len()),
        (false, Some(n)) => format!(
            "next snapshot at {}; {} snapshot(s) kept",
            n.to_rfc3339(),
            owned.len()
        ),
        (false, None) => format!(
            "the schedule has no further slot; {} snapshot(s) kept",
            owned.len()
        ),
    };
    w.set(Phase::Ready, "Scheduled", msg);
    w.save().await?;
    let until_next = next
        .filter(|_| !spec.suspend)
        .and_then(|n| (n - now).to_std().ok())
        .unwrap_or(MAX_SLEEP);
    // Active snapshots finish soon and count for `lastSuccessfulTime` and retention: look again shortly.
    let wait = if w.status.active.is_empty() {
        until_next
    } else {
        until_next.min(Duration::from_secs(5))
    };
    Ok(Action::requeue(
        wait.clamp(Duration::from_secs(1), MAX_SLEEP),
    ))
}

/// Creates the VolumeSnapshot of the slot due now, if one is. The VolumeSnapshot is created before the slot is
/// recorded: a crash in between finds it under the same name and does not make a second.
async fn take_due_slot(
    ctx: &Context,
    obj: &VolumeSnapshotSchedule,
    w: &mut Writer,
    schedule: &slots::Schedule,
    now: DateTime<Utc>,
    taken: &[String],
    owned: &mut Vec<Owned>,
) -> Result<(), Error> {
    let created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(from_time)
        .unwrap_or(now);
    let last = w
        .status
        .last_schedule_time
        .as_ref()
        .and_then(from_time)
        .unwrap_or(created);
    let deadline = obj
        .spec
        .starting_deadline_seconds
        .map(|s| Duration::from_secs(s.into()));
    let (slot, missed) = match schedule.due(last, now, deadline) {
        Due::None => return Ok(()),
        Due::TooLate { slot, missed } => {
            w.status.skipped_slots += u64::from(missed) + 1;
            w.status.last_schedule_time = to_time(slot);
            ctx.warning(
                obj,
                "MissedSlot",
                format!(
                    "the slot of {} was missed by more than startingDeadlineSeconds; skipped, waiting for the next",
                    slot.to_rfc3339()
                ),
            )
            .await;
            return Ok(());
        }
        Due::Take { slot, missed } => (slot, missed),
    };
    w.status.skipped_slots += u64::from(missed);
    let name = owned::slot_name(
        &ctx.settings.cluster_id,
        &obj.name_any(),
        &obj.uid().unwrap_or_default(),
        slot,
    );
    if taken.contains(&name) {
        // Made before a crash that came before the slot was recorded.
        w.status.last_schedule_time = to_time(slot);
        return Ok(());
    }
    if let Some(busy) = owned.iter().find(|o| !o.ready()) {
        w.status.skipped_slots += 1;
        w.status.last_schedule_time = to_time(slot);
        ctx.warning(
            obj,
            "SlotSkipped",
            format!(
                "skipped the slot of {}: VolumeSnapshot {} of the previous slot is still in progress",
                slot.to_rfc3339(),
                busy.vs.name_any()
            ),
        )
        .await;
        return Ok(());
    }
    let vs = new_volume_snapshot(obj, &name, slot)?;
    let api =
        Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let made = match api.create(&PostParams::default(), &vs).await {
        Ok(made) => made,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // Not in our list, so not ours: a name collision is refused, nothing is touched.
            return Err(Error::Precondition(format!(
                "VolumeSnapshot {name} exists but was not made by this schedule; delete or rename it"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    w.status.last_schedule_time = to_time(slot);
    ctx.normal(
        obj,
        "SnapshotScheduled",
        format!(
            "created VolumeSnapshot {name} for the slot of {}",
            slot.to_rfc3339()
        ),
    )
    .await;
    owned.push(Owned { vs: made, slot });
    Ok(())
}

fn new_volume_snapshot(
    obj: &VolumeSnapshotSchedule,
    name: &str,
    slot: DateTime<Utc>,
) -> Result<VolumeSnapshot, Error> {
    let mut vs = VolumeSnapshot::new(name, obj.spec.snapshot_template.volume_snapshot_spec());
    vs.metadata.namespace = obj.namespace();
    vs.metadata.labels = Some([(SCHEDULE_LABEL.to_owned(), obj.name_any())].into());
    vs.metadata.annotations = Some([(SLOT_ANNOTATION.to_owned(), slot.to_rfc3339())].into());
    Ok(vs)
}

/// Retention over the ready snapshots: what the policy expires is deleted, except snapshots a FlexCloneMount
/// depends on (kept and listed). Snapshots still in progress are never expired.
async fn expire(
    ctx: &Context,
    obj: &VolumeSnapshotSchedule,
    w: &mut Writer,
    tz: chrono_tz::Tz,
    owned: &mut Vec<Owned>,
) -> Result<(), Error> {
    let Some(r) = obj.spec.retention else {
        w.status.retained_by_mounts.clear();
        return Ok(());
    };
    let policy = Policy {
        keep_last: r.keep_last,
        hourly: r.hourly,
        daily: r.daily,
        weekly: r.weekly,
        monthly: r.monthly,
    };
    let ready: Vec<&Owned> = owned.iter().filter(|o| o.ready()).collect();
    let names: Vec<String> = ready.iter().map(|o| o.vs.name_any()).collect();
    let entries: Vec<Entry<'_>> = ready
        .iter()
        .zip(&names)
        .map(|(o, name)| Entry { name, time: o.slot })
        .collect();
    let decision = retention::decide(&entries, &policy, tz);
    let ns = obj.namespace().unwrap_or_default();
    let mounts = Api::<FlexCloneMount>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items;
    let mounted = |vs: &str| {
        mounts.iter().any(|m| {
            m.spec
                .volume_snapshot_ref
                .as_ref()
                .is_some_and(|r| r.name == vs)
                && !m.status.as_ref().is_some_and(|s| s.split_complete)
        })
    };
    let api = Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &ns);
    let mut retained = Vec::new();
    for name in decision.expire {
        if mounted(&name) {
            retained.push(name);
            continue;
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                ctx.normal(
                    obj,
                    "Expired",
                    format!("retention expired VolumeSnapshot {name}"),
                )
                .await;
                owned.retain(|o| o.vs.name_any() != name);
            }
            Err(kube::Error::Api(e)) if e.code == 404 => owned.retain(|o| o.vs.name_any() != name),
            Err(e) => return Err(e.into()),
        }
    }
    w.status.retained_by_mounts = retained;
    Ok(())
}
