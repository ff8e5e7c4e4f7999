//! Runs every controller in one process with one graceful shutdown.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{Context, Settings};
use super::error::Error;
use super::object::Managed;
use super::reconcile::error_policy;
use super::{
    flex_clone_mount, ontap_storage, vm_disk_clone, volume_snapshot, volume_snapshot_restore,
    volume_snapshot_schedule,
};
use crate::api::{
    FlexCloneMount, OntapCluster, OntapStorage, ProxmoxCluster, VmDiskClone, VolumeSnapshot,
    VolumeSnapshotRestore, VolumeSnapshotSchedule,
};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{kind} is not served by the apiserver (are the CRDs installed?): {source}")]
    CrdNotServed {
        kind: &'static str,
        source: kube::Error,
    },
}

/// Checks that each kind is served and readable with our credentials, so a missing CRD or RBAC rule fails the
/// start instead of leaving a watch retrying silently.
pub async fn check_crds_served(client: &Client, namespaces: &[String]) -> Result<(), StartError> {
    async fn probe<K>(api: Api<K>) -> Result<(), StartError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        api.list_metadata(&ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(|source| StartError::CrdNotServed {
                kind: leak_kind::<K>(),
                source,
            })
    }
    probe(Api::<ProxmoxCluster>::all(client.clone())).await?;
    probe(Api::<OntapCluster>::all(client.clone())).await?;
    probe(Api::<OntapStorage>::all(client.clone())).await?;
    for api in namespaced_apis::<VmDiskClone>(client, namespaces) {
        probe(api).await?;
    }
    for api in namespaced_apis::<VolumeSnapshot>(client, namespaces) {
        probe(api).await?;
    }
    for api in namespaced_apis::<FlexCloneMount>(client, namespaces) {
        probe(api).await?;
    }
    for api in namespaced_apis::<VolumeSnapshotRestore>(client, namespaces) {
        probe(api).await?;
    }
    for api in namespaced_apis::<VolumeSnapshotSchedule>(client, namespaces) {
        probe(api).await?;
    }
    Ok(())
}

fn leak_kind<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "ProxmoxCluster" => "ProxmoxCluster",
        "OntapCluster" => "OntapCluster",
        "OntapStorage" => "OntapStorage",
        "VmDiskClone" => "VmDiskClone",
        "VolumeSnapshot" => "VolumeSnapshot",
        "FlexCloneMount" => "FlexCloneMount",
        "VolumeSnapshotRestore" => "VolumeSnapshotRestore",
        "VolumeSnapshotSchedule" => "VolumeSnapshotSchedule",
        _ => "custom resource",
    }
}

fn namespaced_apis<K: Managed>(client: &Client, namespaces: &[String]) -> Vec<Api<K>> {
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

/// Runs one kube-runtime `Controller` until `shutdown` fires, then lets in-flight reconciles finish.
fn run_controller<K, F, Fut>(
    api: Api<K>,
    workers: u16,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    reconcile: F,
    policy: fn(Arc<K>, &Error, Arc<Context>) -> Action,
) -> BoxFuture<'static, ()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    F: FnMut(Arc<K>, Arc<Context>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let controller = Controller::new(api, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().concurrency(workers));
    run_built(controller, ctx, shutdown, reconcile, policy)
}

/// Runs a `Controller` built by the caller (extra triggers, its own config) like [`run_controller`].
fn run_built<K, F, Fut>(
    controller: Controller<K>,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    reconcile: F,
    policy: fn(Arc<K>, &Error, Arc<Context>) -> Action,
) -> BoxFuture<'static, ()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    F: FnMut(Arc<K>, Arc<Context>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let kind = K::kind(&()).to_string();
    let metrics = ctx.metrics.clone();
    let store = controller.store();
    let stopped_early = stopped_before_first_sync(store, shutdown.clone(), kind.clone());
    let stream = controller
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, policy, ctx)
        .for_each(move |res| {
            match res {
                Ok((obj, _)) => tracing::trace!(kind = %kind, object = %obj, "reconciled"),
                // Reconcile errors are already recorded in status, metrics and Events.
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, obj)) => {
                    tracing::debug!(kind = %kind, object = %obj, error = %e, "reconcile failed")
                }
                // A scheduled reconcile of an object that is gone. Deletions do not trigger reconciles, so for an
                // object deleted without our finalizer running to the end (never added, or removed by hand) this
                // is the first the controller hears of it.
                Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                    tracing::debug!(kind = %kind, object = %obj, "deleted before its reconcile ran");
                    if let Some(uid) = &obj.extra.uid {
                        metrics.forget_object(uid);
                    }
                }
                Err(e) => warn!(kind = %kind, error = %e, "controller stream error"),
            }
            futures::future::ready(())
        });
    async move {
        tokio::select! {
            () = stream => {}
            () = stopped_early => {}
        }
    }
    .boxed()
}

/// Resolves when shutdown is requested before the controller's cache finished its first list. kube-runtime holds
/// every reconcile until that list is in, and a graceful shutdown stops the watch that would deliver it, so the
/// controller would wait forever; with no reconcile started yet there is nothing to finish, and dropping the
/// controller is safe. Once the cache is synced this never resolves and the graceful shutdown runs as usual.
async fn stopped_before_first_sync<K>(store: Store<K>, shutdown: CancellationToken, kind: String)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    shutdown.cancelled().await;
    if store.wait_until_ready().now_or_never().is_none() {
        info!(kind = %kind, "stopped before the first list arrived; no reconcile had started");
        return;
    }
    futures::future::pending::<()>().await
}

/// Starts every controller and returns when all have shut down after `shutdown` was cancelled.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    check_crds_served(&client, &settings.namespaces).await?;
    let ctx = Arc::new(Context::new(client.clone(), settings, metrics));
    let conc = ctx.settings.concurrency.clone();
    let mut tasks: Vec<BoxFuture<'static, ()>> = Vec::new();

    tasks.push(run_controller(
        Api::<ProxmoxCluster>::all(client.clone()),
        conc.backends,
        ctx.clone(),
        shutdown.clone(),
        super::proxmox_cluster::reconcile,
        super::probe::error_policy::<ProxmoxCluster>,
    ));
    tasks.push(run_controller(
        Api::<OntapCluster>::all(client.clone()),
        conc.backends,
        ctx.clone(),
        shutdown.clone(),
        super::ontap_cluster::reconcile,
        super::probe::error_policy::<OntapCluster>,
    ));
    for api in namespaced_apis::<VmDiskClone>(&client, &ctx.settings.namespaces) {
        tasks.push(run_controller(
            api,
            conc.vm_disk_clone,
            ctx.clone(),
            shutdown.clone(),
            vm_disk_clone::reconcile,
            error_policy::<VmDiskClone>,
        ));
    }
    for api in namespaced_apis::<VolumeSnapshot>(&client, &ctx.settings.namespaces) {
        tasks.push(run_controller(
            api,
            conc.volume_snapshot,
            ctx.clone(),
            shutdown.clone(),
            volume_snapshot::reconcile,
            error_policy::<VolumeSnapshot>,
        ));
    }
    for api in namespaced_apis::<FlexCloneMount>(&client, &ctx.settings.namespaces) {
        tasks.push(run_controller(
            api,
            conc.flex_clone_mount,
            ctx.clone(),
            shutdown.clone(),
            flex_clone_mount::reconcile,
            error_policy::<FlexCloneMount>,
        ));
    }
    for api in namespaced_apis::<VolumeSnapshotRestore>(&client, &ctx.settings.namespaces) {
        tasks.push(run_controller(
            api,
            conc.volume_snapshot,
            ctx.clone(),
            shutdown.clone(),
            volume_snapshot_restore::reconcile,
            error_policy::<VolumeSnapshotRestore>,
        ));
    }
    for api in namespaced_apis::<VolumeSnapshotSchedule>(&client, &ctx.settings.namespaces) {
        tasks.push(run_controller(
            api,
            conc.backends,
            ctx.clone(),
            shutdown.clone(),
            volume_snapshot_schedule::reconcile,
            error_policy::<VolumeSnapshotSchedule>,
        ));
    }
    if ctx.settings.discovery_interval.is_some() {
        // One refresh per ProxmoxCluster covers all its storages; a change anywhere refreshes every cluster
        // (there are few), at most once a second.
        let controller = Controller::new(
            Api::<ProxmoxCluster>::all(client.clone()),
            watcher::Config::default().any_semantic(),
        )
        .with_config(
            ControllerConfig::default()
                .concurrency(conc.backends)
                .debounce(std::time::Duration::from_secs(1)),
        )
        .reconcile_all_on({
            // A change (a storage added by a FlexCloneMount, a snapshot taken) must show at once: the refresh it
            // triggers resolves afresh, as a periodic one does, instead of from facts learned before it.
            let ctx = ctx.clone();
            ontap_storage::triggers::stream(&client, &ctx.settings.namespaces)
                .map(move |()| ctx.facts.discovered.forget_all())
        });
        tasks.push(run_built(
            controller,
            ctx.clone(),
            shutdown.clone(),
            ontap_storage::reconcile,
            ontap_storage::error_policy,
        ));
    }
    info!(controllers = tasks.len(), "controllers started");
    futures::future::join_all(tasks).await;
    info!("controllers stopped");
    Ok(())
}
