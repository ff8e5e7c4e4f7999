//! The reconcile ProxmoxCluster and OntapCluster share: probe the backend, record its facts (or the failure) in
//! the Ready condition and message, warn about disabled TLS verification, write status only when it changed.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::info;

use crate::api::conditions::{self, Progress, INSECURE_TLS, READY};
use crate::api::{OntapCluster, OntapClusterStatus, ProxmoxCluster, ProxmoxClusterStatus};
use crate::controller::context::Context;
use crate::controller::error::{Error, RetryClass};
use crate::controller::status::apply_status;

/// The shape both backend reconcilers share: probe the backend, record its facts (or the failure) in the Ready
/// condition and message, warn about disabled TLS verification, and write status only when it changed.
pub async fn reconcile_backend<K, F>(
    obj: &K,
    ctx: &Context,
    insecure: bool,
    probe: impl std::future::Future<Output = Result<F, Error>>,
    record: impl FnOnce(&mut K::Status, F) -> String,
) -> Result<Action, Error>
where
    K: BackendObject,
{
    let _timer = ctx.metrics.reconcile_started(K::KIND);
    let api: Api<K> = Api::all(ctx.client.clone());
    let generation = obj.meta().generation;
    let before = obj.status_or_default();
    let mut status = before.clone();
    let probe = probe.await;
    let conds = status.conditions_mut();
    insecure_condition(conds, insecure, generation);
    let (result, msg) = match probe {
        Ok(facts) => {
            let msg = record(&mut status, facts);
            let conds = status.conditions_mut();
            set_ready(conds, true, "Connected", &msg, generation);
            conditions::set_progress(conds, Progress::Current, "Connected", &msg, generation);
            ctx.backoff
                .reset(&obj.meta().uid.clone().unwrap_or_default());
            (Ok(Action::requeue(ctx.settings.resync)), msg)
        }
        Err(e) => {
            ctx.metrics.reconcile_failed(K::KIND, e.category());
            let msg = e.to_string();
            let conds = status.conditions_mut();
            set_ready(conds, false, e.category(), &msg, generation);
            // An unreachable backend is retried (Reconciling); refused credentials or a bad spec wait for a change.
            let progress = match e.retry_class() {
                RetryClass::Transient => Progress::Reconciling,
                RetryClass::Permanent => Progress::Stalled,
            };
            conditions::set_progress(conds, progress, e.category(), &msg, generation);
            (Err(e), msg)
        }
    };
    status.set_common(generation, msg);
    write_backend_status(ctx, &api, obj, &before, &status).await?;
    result
}

fn set_ready(
    conds: &mut Vec<Condition>,
    ok: bool,
    reason: &str,
    msg: &str,
    generation: Option<i64>,
) {
    conditions::set_condition(
        conds,
        conditions::new_condition(READY, ok, reason, msg, generation, conditions::now()),
    );
}

fn insecure_condition(conds: &mut Vec<Condition>, insecure: bool, generation: Option<i64>) {
    if insecure {
        conditions::set_condition(
            conds,
            conditions::new_condition(
                INSECURE_TLS,
                true,
                "InsecureSkipTLSVerify",
                "TLS certificate verification is disabled; configure caBundleSecretRef instead",
                generation,
                conditions::now(),
            ),
        );
    } else {
        conditions::remove_condition(conds, INSECURE_TLS);
    }
}

/// ProxmoxCluster and OntapCluster as [`reconcile_backend`] sees them.
pub trait BackendObject:
    Resource<DynamicType = (), Scope = kube::core::ClusterResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
    const KIND: &'static str;
    type Status: BackendStatus + Clone + Default;
    fn status_or_default(&self) -> Self::Status;
}

impl BackendObject for ProxmoxCluster {
    const KIND: &'static str = "ProxmoxCluster";
    type Status = ProxmoxClusterStatus;
    fn status_or_default(&self) -> Self::Status {
        self.status.clone().unwrap_or_default()
    }
}

impl BackendObject for OntapCluster {
    const KIND: &'static str = "OntapCluster";
    type Status = OntapClusterStatus;
    fn status_or_default(&self) -> Self::Status {
        self.status.clone().unwrap_or_default()
    }
}

pub trait BackendStatus: PartialEq + serde::Serialize {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn message(&self) -> String;
    fn set_common(&mut self, generation: Option<i64>, message: String);
    fn ready(&self) -> bool {
        conditions::is_true(self.conditions(), READY)
    }
    fn insecure(&self) -> bool {
        conditions::is_true(self.conditions(), INSECURE_TLS)
    }
}

macro_rules! backend_status {
    ($t:ty) => {
        impl BackendStatus for $t {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn message(&self) -> String {
                self.message.clone().unwrap_or_default()
            }
            fn set_common(&mut self, generation: Option<i64>, message: String) {
                self.observed_generation = generation;
                self.message = Some(message);
            }
        }
    };
}
backend_status!(ProxmoxClusterStatus);
backend_status!(OntapClusterStatus);

/// Writes the status only when it changed, with an Event on each change of readiness or TLS mode.
async fn write_backend_status<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    before: &S,
    after: &S,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: BackendStatus,
{
    if before == after {
        return Ok(());
    }
    apply_status(api, &obj.name_any(), after).await?;
    if after.ready() != before.ready() || before.message() != after.message() {
        if after.ready() {
            info!(message = %after.message(), "backend ready");
            ctx.normal(obj, "Connected", after.message()).await;
        } else {
            ctx.warning(obj, "NotReady", after.message()).await;
        }
    }
    if after.insecure() && !before.insecure() {
        ctx.warning(
            obj,
            "InsecureSkipTLSVerify",
            "TLS certificate verification is disabled",
        )
        .await;
    }
    Ok(())
}

/// Backends retry transient failures with backoff and re-probe permanent ones at the resync period.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> kube::runtime::controller::Action {
    match err.retry_class() {
        RetryClass::Transient => Action::requeue(
            ctx.backoff
                .next_delay(&obj.meta().uid.clone().unwrap_or_default()),
        ),
        RetryClass::Permanent => Action::requeue(ctx.settings.resync),
    }
}
