//! The shape every namespaced reconcile shares: metrics timer, finalizer dispatch to apply/cleanup, error
//! recording in status and Events, per-object backoff.

use std::future::Future;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::{debug, warn};

use super::context::Context;
use super::error::{Error, RetryClass};
use super::finalizer;
use super::object::Managed;
use super::status::{api_for, apply_status};
use crate::api::Phase;

/// Result of a cleanup step.
pub enum Cleanup {
    /// Everything this object created is gone (or retained): release the finalizer.
    Done,
    /// Still blocked (dependents, VM running, job in flight): keep the finalizer and look again.
    Wait(Action),
}

pub async fn reconcile_namespaced<K, A, AF, C, CF>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    apply: A,
    cleanup: C,
) -> Result<Action, Error>
where
    K: Managed,
    A: FnOnce(Arc<K>, Arc<Context>) -> AF,
    AF: Future<Output = Result<Action, Error>>,
    C: FnOnce(Arc<K>, Arc<Context>) -> CF,
    CF: Future<Output = Result<Cleanup, Error>>,
{
    let _timer = ctx.metrics.reconcile_started(K::KIND);
    let api = api_for(&ctx, obj.as_ref());
    let uid = obj.uid().unwrap_or_default();
    let deleting = finalizer::is_deleting(obj.as_ref());
    // Every object is reconciled once the cache has synced, so the phase gauge is complete without a status
    // write; our writes move it afterwards. An object without status has not got anywhere yet.
    let phase = obj.observed().map_or(Phase::Pending, |(phase, _)| phase);
    ctx.metrics.object_phase(K::KIND, &uid, phase.as_str());
    // Woken by our own status write (or any other event) while a failure's backoff runs: wait it out, so a
    // failed pause or freeze is not tried again at once. Neither a success nor a failure, so the count stays.
    if let Some(left) = ctx.backoff.held(&uid, obj.meta().generation, deleting) {
        debug!(?left, "backing off after a failure");
        return Ok(Action::requeue(left));
    }
    let result = if deleting {
        if !finalizer::has_finalizer(obj.as_ref()) {
            ctx.metrics.forget_object(&uid);
            return Ok(Action::await_change());
        }
        match cleanup(obj.clone(), ctx.clone()).await {
            Ok(Cleanup::Done) => finalizer::remove(&api, obj.as_ref())
                .await
                .map(|_| {
                    ctx.metrics.forget_object(&uid);
                    Action::await_change()
                })
                .map_err(Error::from),
            Ok(Cleanup::Wait(action)) => Ok(action),
            Err(e) => Err(e),
        }
    } else {
        match finalizer::add(&api, obj.as_ref()).await {
            Ok(()) => apply(obj.clone(), ctx.clone()).await,
            Err(e) => Err(e.into()),
        }
    };
    match result {
        Ok(action) => {
            ctx.backoff.reset(&uid);
            Ok(action)
        }
        Err(e) => {
            ctx.metrics.reconcile_failed(K::KIND, e.category());
            // A write conflict is our own race with the watch cache, resolved by the retry; recording it would
            // itself change the object and keep the race going.
            if !is_conflict(&e) {
                record_error(&api, obj.as_ref(), &e, &ctx).await;
            }
            Err(e)
        }
    }
}

/// Runs `apply` unless the object is settled: Ready or Failed at its current generation, no work of its own open
/// (`work_open`), and fully checked by this process within the resync period. A watch event that wakes a settled
/// object (our own status write, a label change) then costs no backend call; the periodic resync still checks
/// everything. A permanent failure counts as checked, so our own status write does not retry it (a spec change
/// or the resync does).
pub async fn apply_unless_settled<K, A, AF>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    work_open: bool,
    apply: A,
) -> Result<Action, Error>
where
    K: Managed,
    A: FnOnce(Arc<K>, Arc<Context>) -> AF,
    AF: Future<Output = Result<Action, Error>>,
{
    let uid = obj.uid().unwrap_or_default();
    let quiet = obj.observed().is_some_and(|(phase, observed)| {
        matches!(phase, Phase::Ready | Phase::Failed) && observed == obj.meta().generation
    });
    if quiet && !work_open && ctx.facts.checked.get(&uid).is_some() {
        return Ok(Action::requeue(ctx.settings.resync));
    }
    let result = apply(obj, ctx.clone()).await;
    if result.as_ref().is_err_and(Error::is_permanent) {
        ctx.facts.checked.put(uid, ());
    }
    result
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(r)) if r.code == 409)
}

/// Writes the error into status (permanent → phase Failed; transient → phase kept, message shows the last
/// error) and publishes a Warning Event when the message changed.
async fn record_error<K: Managed>(api: &Api<K>, obj: &K, err: &Error, ctx: &Context) {
    // The reconcile may have written status since `obj` was read (a task cleared, a restore done); writing the
    // stale copy back would undo that, so the error goes on top of the current status.
    let mut status = match api.get_status(&obj.name_any()).await {
        Ok(current) => current.status_cloned(),
        Err(e) => {
            warn!(error = %e, "reading the current status failed; recording the error on the cached one");
            obj.status_cloned()
        }
    };
    let before = status.clone();
    let generation = obj.meta().generation;
    let message = err.to_string();
    {
        let mut common = K::common(&mut status);
        let deleting = finalizer::is_deleting(obj);
        let phase = match (deleting, err.retry_class()) {
            (true, _) => Phase::Deleting,
            (false, RetryClass::Permanent) => Phase::Failed,
            (false, RetryClass::Transient) => match *common.phase {
                Phase::Failed => Phase::InProgress,
                p => p,
            },
        };
        let ready = phase == Phase::Ready;
        common.set(phase, ready, err.category(), message.clone(), generation);
    }
    if status == before {
        debug!(error = %err, "status already shows this error");
        return;
    }
    match apply_status(api, &obj.name_any(), &status).await {
        Ok(()) => {
            let phase = *K::common(&mut status).phase;
            ctx.metrics
                .object_phase(K::KIND, &obj.uid().unwrap_or_default(), phase.as_str());
        }
        Err(e) => warn!(error = %e, "failed to record error in status"),
    }
    ctx.warning(obj, err.category(), message).await;
}

/// `error_policy` of every kind: transient errors back off per object, permanent ones wait for a change
/// (a new generation triggers a reconcile) with a slow safety requeue. The backoff of a failure holds the
/// object against other wake-ups too ([`super::backoff`]); waiting for something else (a VolumeSnapshot to be
/// Ready, a job to finish) does not, since the event that ends the wait should be acted on at once.
pub fn error_policy<K: Managed>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    match err.retry_class() {
        RetryClass::Transient => {
            let uid = obj.uid().unwrap_or_default();
            let delay = match err {
                Error::Waiting(_) => ctx.backoff.next_delay(&uid),
                _ => ctx.backoff.next_delay_held(
                    &uid,
                    obj.meta().generation,
                    finalizer::is_deleting(obj.as_ref()),
                ),
            };
            debug!(error = %err, ?delay, "transient error, retrying");
            Action::requeue(delay)
        }
        RetryClass::Permanent => Action::requeue(ctx.settings.resync),
    }
}
