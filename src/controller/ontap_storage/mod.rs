//! OntapStorage: discovery of what backs each ONTAP-backed Proxmox storage (the old script's `storage list` and
//! `storage show`). The reconcile unit is the ProxmoxCluster: one refresh resolves its storages (the same
//! resolution every kind uses), reads per resolved storage its volume and its snapshot list, and makes, rewrites
//! or deletes one OntapStorage per storage. It runs on a period (`Settings::discovery_interval`) and when a
//! VolumeSnapshot, FlexCloneMount or backend changes ([`triggers`]). Nothing on ONTAP or Proxmox is changed.
//!
//! Which OntapClusters can back a ProxmoxCluster's storage: those some namespace may use together with it
//! (both allow-lists name it; with `--watch-namespaces`, a namespace this controller serves). A pair no namespace
//! may use is never contacted for the other's storages, so discovery sees what the objects here could use.

mod observe;
pub mod plan;
mod sync;
pub mod triggers;

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{instrument, warn};

use super::backends::{ontap_client, proxmox_client, SECRET_RECHECK};
use super::context::Context;
use super::error::{Error, RetryClass};
use super::resolve::{self, Backing};
use crate::api::common::namespace_listed;
use crate::api::conditions::{self, Progress, READY};
use crate::api::ontap_storage::VolumeIdentity;
use crate::api::{OntapCluster, OntapStorage, OntapStorageStatus, ProxmoxCluster};
use crate::controller::ports::{OntapClient, PveStorage};

pub const KIND: &str = "OntapStorage";

/// Whether some namespace may use both allow-lists (and, when the controller serves only some namespaces, one
/// of those).
pub fn usable_together(a: &[String], b: &[String], served: &[String]) -> bool {
    if !served.is_empty() {
        return served
            .iter()
            .any(|ns| namespace_listed(a, ns) && namespace_listed(b, ns));
    }
    let star = |l: &[String]| l.iter().any(|n| n == "*");
    match (star(a), star(b)) {
        (true, _) => !b.is_empty(),
        (_, true) => !a.is_empty(),
        _ => a.iter().any(|n| b.contains(n)),
    }
}

/// Whether this controller discovers `pc`'s storages: always when it serves every namespace, else when one of
/// its namespaces may use `pc` (two controllers serving different namespaces never write each other's objects).
fn serves(ctx: &Context, pc: &ProxmoxCluster) -> bool {
    let served = &ctx.settings.namespaces;
    served.is_empty() || served.iter().any(|ns| pc.spec.allows_namespace(ns))
}

#[instrument(skip_all, fields(kind = KIND, proxmox_cluster = %pc.name_any()))]
pub async fn reconcile(pc: Arc<ProxmoxCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(interval) = ctx.settings.discovery_interval else {
        return Ok(Action::await_change());
    };
    // A ProxmoxCluster being deleted takes its OntapStorages with it (owner references).
    if pc.meta().deletion_timestamp.is_some() || !serves(&ctx, &pc) {
        return Ok(Action::await_change());
    }
    let _timer = ctx.metrics.reconcile_started(KIND);
    match refresh(&pc, &ctx).await {
        Ok(()) => {
            ctx.backoff.reset(&discovery_key(&pc));
            Ok(Action::requeue(interval))
        }
        Err(e) => {
            ctx.metrics.reconcile_failed(KIND, e.category());
            Err(e)
        }
    }
}

fn discovery_key(pc: &ProxmoxCluster) -> String {
    format!("discovery/{}", pc.uid().unwrap_or_default())
}

/// Transient failures back off; permanent ones (a broken backend, reported in its own status) wait for the
/// next period.
pub fn error_policy(pc: Arc<ProxmoxCluster>, err: &Error, ctx: Arc<Context>) -> Action {
    match err.retry_class() {
        RetryClass::Transient => Action::requeue(ctx.backoff.next_delay(&discovery_key(&pc))),
        RetryClass::Permanent => Action::requeue(
            ctx.settings
                .discovery_interval
                .unwrap_or(ctx.settings.resync),
        ),
    }
}

/// The OntapClusters paired with `pc`, with clients; the names of paired ones whose client cannot be built.
async fn paired_ontaps(
    ctx: &Context,
    pc: &ProxmoxCluster,
) -> Result<(Vec<(OntapCluster, OntapClient)>, Vec<String>), Error> {
    let mut ok = Vec::new();
    let mut broken = Vec::new();
    let all = ctx.backends.watch.list::<OntapCluster>(&ctx.client).await?;
    for oc in all.into_iter().filter(|oc| {
        usable_together(
            &pc.spec.allowed_namespaces,
            &oc.spec.allowed_namespaces,
            &ctx.settings.namespaces,
        )
    }) {
        match ontap_client(&ctx.backends, &oc, SECRET_RECHECK).await {
            Ok(c) => ok.push((oc, c)),
            Err(e) => {
                warn!(ontap_cluster = %oc.name_any(), error = %e, "OntapCluster left out of discovery");
                broken.push(oc.name_any());
            }
        }
    }
    Ok((ok, broken))
}

/// One refresh of every storage of `pc`. A storage whose volume cannot be read keeps its last figures with
/// `Ready=False`; the first such error is returned after every storage was looked at, so the refresh retries.
async fn refresh(pc: &ProxmoxCluster, ctx: &Context) -> Result<(), Error> {
    let pve = proxmox_client(&ctx.backends, pc, SECRET_RECHECK).await?;
    let (ontaps, broken) = paired_ontaps(ctx, pc).await?;
    let pve_name = pc.name_any();
    let lookup = resolve::Lookup {
        backends: &ctx.backends,
        facts: &ctx.facts.storage,
        namespace: "",
        pve_name: &pve_name,
        pve: &pve,
        mappings: &pc.spec.storage_mappings,
        hosts: &ctx.settings.hosts,
    };
    let key = discovery_key(pc);
    let fresh = ctx.facts.discovered.get(&key).is_none();
    let found = resolve::resolve_all(&lookup, &ontaps, fresh).await?;
    if fresh {
        ctx.facts.discovered.put(key, ());
    }
    let owners = observe::owners(ctx).await?;
    let existing: BTreeMap<String, OntapStorage> = sync::existing(ctx, pc)
        .await?
        .into_iter()
        .map(|o| (o.name_any(), o))
        .collect();
    let names = plan::object_names(&pve_name, found.by_storage.keys().map(String::as_str));
    let mut first_error: Option<Error> = None;
    for (id, name) in &names {
        let backing = &found.by_storage[id];
        let Some(storage) = found.listed.iter().find(|s| &s.id == id) else {
            continue;
        };
        let Some((_, ontap)) = ontaps
            .iter()
            .find(|(oc, _)| oc.name_any() == backing.ontap_cluster)
        else {
            continue;
        };
        let current = existing.get(name);
        let previous = current.and_then(|o| o.status.clone());
        let mut status = identity(pc, storage, backing, previous.clone());
        // The spec is empty and never changes: a new object starts at generation 1.
        status.observed_generation = Some(current.and_then(|o| o.metadata.generation).unwrap_or(1));
        match observe::volume(ontap, &backing.volume_uuid).await {
            Ok(seen) => {
                let space = plan::space(&seen.usage);
                let snapshots = plan::snapshots(&seen.snapshots, &seen.clones, &owners);
                status.unmanaged_snapshot_count = plan::unmanaged(&snapshots);
                status.snapshot_count = snapshots.len() as u32;
                let msg = plan::summary(
                    &backing.volume,
                    &backing.svm,
                    &space,
                    status.snapshot_count,
                    status.unmanaged_snapshot_count,
                );
                status.volume_state = seen.usage.state.clone();
                status.space = Some(space);
                status.snapshots = snapshots;
                status.refreshed_at = Some(conditions::now());
                set_ready(&mut status, true, "Refreshed", msg);
            }
            Err(e) => {
                if e.is_not_found() {
                    // The remembered backing points at a volume that is gone: resolve afresh next time.
                    resolve::forget(&lookup, id);
                }
                let msg = format!(
                    "reading volume {}:{} of OntapCluster {} failed: {e}; the figures shown are from the last \
                     successful refresh (see refreshedAt); the OntapCluster's status says whether it is reachable",
                    backing.svm, backing.volume, backing.ontap_cluster
                );
                set_ready(&mut status, false, e.category(), msg);
                first_error.get_or_insert(e);
            }
        }
        sync::write(ctx, pc, name, current, &status).await?;
    }
    for (name, obj) in &existing {
        if names.values().any(|n| n == name) {
            continue;
        }
        // A storage on an OntapCluster that cannot be used right now has not stopped resolving.
        if obj
            .status
            .as_ref()
            .is_some_and(|s| broken.contains(&s.ontap_cluster))
        {
            let mut status = obj.status.clone().unwrap_or_default();
            let msg = format!(
                "OntapCluster {} cannot be used (see its status); the figures shown are from the last successful \
                 refresh",
                status.ontap_cluster
            );
            set_ready(&mut status, false, "BackendNotReady", msg);
            sync::write(ctx, pc, name, Some(obj), &status).await?;
            continue;
        }
        sync::delete(ctx, pc, obj).await?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Where the storage lives, carried over onto the last figures read (a failed read keeps them).
fn identity(
    pc: &ProxmoxCluster,
    storage: &PveStorage,
    backing: &Backing,
    previous: Option<OntapStorageStatus>,
) -> OntapStorageStatus {
    let mut s = previous
        .filter(|p| p.volume.uuid == backing.volume_uuid)
        .unwrap_or_default();
    s.proxmox_cluster = pc.name_any();
    s.storage = storage.id.clone();
    s.server = storage.server.clone();
    s.export = storage.export.clone();
    s.pinned = pc
        .spec
        .storage_mappings
        .iter()
        .any(|m| m.storage == storage.id);
    s.ontap_cluster = backing.ontap_cluster.clone();
    s.svm = backing.svm.clone();
    s.volume = VolumeIdentity {
        name: backing.volume.clone(),
        uuid: backing.volume_uuid.clone(),
    };
    s.subdir = (!backing.subdir.is_empty()).then(|| backing.subdir.clone());
    s
}

fn set_ready(status: &mut OntapStorageStatus, ok: bool, reason: &str, msg: String) {
    // Ready flips rarely; its transition time says since when the figures are current or stale.
    conditions::set_condition(
        &mut status.conditions,
        conditions::new_condition(READY, ok, reason, msg.clone(), None, conditions::now()),
    );
    // Stale figures are refreshed on the next period by themselves: in progress, never stalled.
    let progress = if ok {
        Progress::Current
    } else {
        Progress::Reconciling
    };
    conditions::set_progress(&mut status.conditions, progress, reason, &msg, None);
    status.message = Some(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pairs_through_a_shared_namespace() {
        assert!(usable_together(&l(&["a", "b"]), &l(&["b"]), &[]));
        assert!(!usable_together(&l(&["a"]), &l(&["b"]), &[]));
        assert!(usable_together(&l(&["*"]), &l(&["b"]), &[]));
        assert!(usable_together(&l(&["a"]), &l(&["*"]), &[]));
        assert!(!usable_together(&l(&["*"]), &[], &[]));
        assert!(!usable_together(&[], &[], &[]));
        // A controller serving only some namespaces pairs only through them.
        assert!(!usable_together(&l(&["a", "b"]), &l(&["b"]), &l(&["a"])));
        assert!(usable_together(&l(&["*"]), &l(&["a"]), &l(&["a"])));
    }
}
