//! Which ONTAP volume serves each Proxmox storage an object uses, asked as narrowly as the APIs allow: the storage
//! definitions once, the data LIFs once per OntapCluster, then one filtered volume query per storage
//! (`nas.path=<export>|<parent>|…`, `svm.name=<svm of the LIF>`) instead of a listing of every volume. Answers are
//! remembered in [`crate::controller::backends::BackendFacts`] for a short while; a cached answer that leads
//! planning nowhere is asked again before anything is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::ResourceExt;

use crate::controller::backends;
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveStorage};

use super::backing::{resolve_storage, Ambiguous, Backing, DataLif, StorageInfo, VolumeInfo};
use super::hosts::serves;
use super::Lookup;
use crate::api::proxmox_cluster::StorageMapping;

/// The backings found, the OntapClusters this namespace may use whose client could not be built, whether any
/// answer came from memory rather than from the backends, and the storage definitions looked at.
pub struct Backings {
    pub by_storage: HashMap<String, Backing>,
    pub broken: Vec<String>,
    pub remembered: bool,
    pub listed: Vec<PveStorage>,
}

/// `/a/b/c` → `["/a/b/c", "/a/b", "/a"]`: the junctions an export can lie under.
pub fn export_and_parents(export: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = export.trim_end_matches('/');
    while !p.is_empty() {
        out.push(p.to_owned());
        p = match p.rfind('/') {
            Some(i) => &p[..i],
            None => "",
        };
    }
    out
}

/// Resolves the storages `ids` (those the VM's disks live on). `fresh` ignores remembered answers.
pub async fn resolve(
    run: &Lookup<'_>,
    ids: &BTreeSet<String>,
    fresh: bool,
) -> Result<Backings, Error> {
    let (ontaps, broken) = backends::ontaps_for(run.backends, run.namespace).await?;
    resolve_ids(run, &ontaps, broken, ids, None, Mode::Object, fresh).await
}

/// Who asks: an object, for the storages it uses (a storage that cannot be resolved is its error), or
/// discovery, for every storage (one that cannot be resolved is left out, and no volume listing is made to find it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Object,
    Discovery,
}

/// Resolves every NFS storage of the ProxmoxCluster against `ontaps` (discovery: the OntapClusters the
/// controller pairs with it). Storages that match nothing, match ambiguously or are pinned to something that
/// does not exist are left out of `by_storage`; `listed` has every storage definition.
pub async fn resolve_all(
    run: &Lookup<'_>,
    ontaps: &[(crate::api::OntapCluster, OntapClient)],
    fresh: bool,
) -> Result<Backings, Error> {
    let mut remembered = false;
    let storages = storage_list(run, fresh, &mut remembered).await?;
    let ids: BTreeSet<String> = storages
        .iter()
        .filter(|s| {
            s.kind == "nfs"
                && ((s.server.is_some() && s.export.is_some())
                    || run.mappings.iter().any(|m| m.storage == s.id))
        })
        .map(|s| s.id.clone())
        .collect();
    let mut out = resolve_ids(
        run,
        ontaps,
        Vec::new(),
        &ids,
        Some(storages.clone()),
        Mode::Discovery,
        fresh,
    )
    .await?;
    out.remembered |= remembered;
    out.listed = storages;
    Ok(out)
}

/// The ProxmoxCluster's storage definitions, remembered for a short while unless `fresh`.
async fn storage_list(
    run: &Lookup<'_>,
    fresh: bool,
    remembered: &mut bool,
) -> Result<Vec<PveStorage>, Error> {
    match run.facts.storages.get(run.pve_name).filter(|_| !fresh) {
        Some(s) => {
            *remembered = true;
            Ok(s)
        }
        None => {
            let s = run.pve.storages().await?;
            run.facts.storages.put(run.pve_name, s.clone());
            Ok(s)
        }
    }
}

async fn resolve_ids(
    run: &Lookup<'_>,
    ontaps: &[(crate::api::OntapCluster, OntapClient)],
    broken: Vec<String>,
    ids: &BTreeSet<String>,
    listed: Option<Vec<PveStorage>>,
    mode: Mode,
    fresh: bool,
) -> Result<Backings, Error> {
    let facts = run.facts;
    let key = |id: &str| format!("{}/{id}", run.pve_name);
    let mut out = Backings {
        by_storage: HashMap::new(),
        broken,
        remembered: false,
        listed: Vec::new(),
    };
    let mut missing: Vec<String> = Vec::new();
    for id in ids {
        // A remembered backing counts only while its OntapCluster still allows this namespace.
        match facts.backings.get(&key(id)).filter(|b| {
            !fresh
                && ontaps
                    .iter()
                    .any(|(oc, _)| oc.name_any() == b.ontap_cluster)
        }) {
            Some(b) => {
                out.remembered = true;
                out.by_storage.insert(id.clone(), b);
            }
            None => missing.push(id.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }

    let storages: Vec<PveStorage> = match listed {
        Some(s) => s,
        None => storage_list(run, fresh, &mut out.remembered).await?,
    };
    out.listed = storages.clone();
    let pinned = |id: &str| run.mappings.iter().find(|m| m.storage == id);
    for id in missing.iter().filter(|id| pinned(id).is_some()) {
        let Some(st) = storages.iter().find(|s| &s.id == id) else {
            continue;
        };
        let b = match pinned_backing(run, ontaps, st, pinned(id).expect("filtered")).await {
            Ok(b) => b,
            Err(e) if mode == Mode::Discovery && e.is_permanent() => {
                tracing::debug!(storage = %id, error = %e, "pinned storage left out of discovery");
                continue;
            }
            Err(e) => return Err(e),
        };
        facts.backings.put(key(id), b.clone());
        out.by_storage.insert(id.clone(), b);
    }
    missing.retain(|id| pinned(id).is_none());
    if missing.is_empty() {
        return Ok(out);
    }
    // Every NFS storage is resolved while at it: one query per SVM answers for all of them, so the next VM on
    // another storage costs nothing (the answer grows with the storages, not with the volumes).
    let mut nfs: Vec<StorageInfo> = Vec::new();
    for s in storages.iter().filter(|s| {
        s.kind == "nfs" && s.server.is_some() && s.export.is_some() && pinned(&s.id).is_none()
    }) {
        nfs.push(StorageInfo {
            id: s.id.clone(),
            kind: s.kind.clone(),
            server: s.server.clone(),
            export: s.export.clone(),
            addresses: run
                .hosts
                .addresses(s.server.as_deref().unwrap_or_default())
                .await,
        });
    }
    let mut lifs = serving_lifs(run, ontaps, fresh, &mut out.remembered).await?;
    let unserved = |lifs: &[DataLif]| {
        missing.iter().any(|id| {
            nfs.iter()
                .find(|s| &s.id == id)
                .is_some_and(|s| !lifs.iter().any(|l| serves(&l.address, &s.addresses)))
        })
    };
    if !fresh && unserved(&lifs) {
        // LIFs move rarely, but a remembered list must not hide a new one.
        lifs = serving_lifs(run, ontaps, true, &mut out.remembered).await?;
    }
    // Only storages a LIF serves can be ONTAP volumes; a disk on another kind of storage costs no query.
    let served = |s: &StorageInfo| lifs.iter().any(|l| serves(&l.address, &s.addresses));
    if !nfs.iter().any(|s| missing.contains(&s.id) && served(s)) {
        return Ok(out);
    }
    let mut paths: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for s in &nfs {
        for lif in lifs.iter().filter(|l| serves(&l.address, &s.addresses)) {
            paths
                .entry((lif.ontap_cluster.clone(), lif.svm.clone()))
                .or_default()
                .extend(export_and_parents(s.export.as_deref().unwrap_or_default()));
        }
    }
    let mut volumes = Vec::new();
    for ((cluster, svm), paths) in &paths {
        let client = client_of(ontaps, cluster)?;
        let paths: Vec<String> = paths.iter().cloned().collect();
        collect(
            &mut volumes,
            cluster,
            client.volumes_at_paths(svm, &paths).await?,
        );
    }
    let mut listed = BTreeSet::new();
    for s in &nfs {
        let wanted = missing.contains(&s.id);
        // Discovery reports what resolves and leaves out what does not: no error, no listing of every volume.
        let mut backing = matched(run, s, &lifs, &volumes, wanted && mode == Mode::Object)?;
        if backing.is_none() && wanted && mode == Mode::Object {
            // The filter found nothing although a LIF may serve the export (a path the query cannot express):
            // fall back to every volume of those clusters.
            for lif in lifs.iter().filter(|l| serves(&l.address, &s.addresses)) {
                if listed.insert(lif.ontap_cluster.clone()) {
                    let client = client_of(ontaps, &lif.ontap_cluster)?;
                    collect(&mut volumes, &lif.ontap_cluster, client.volumes().await?);
                }
            }
            backing = matched(run, s, &lifs, &volumes, wanted)?;
        }
        if let Some(b) = backing {
            facts.backings.put(key(&s.id), b.clone());
            if wanted {
                out.by_storage.insert(s.id.clone(), b);
            }
        }
    }
    Ok(out)
}

/// The automatic match of one storage; a tie between clusters or SVMs is an error for a storage the object
/// uses (naming the OntapClusters, which this namespace may all use) and no answer for the others.
fn matched(
    run: &Lookup<'_>,
    s: &StorageInfo,
    lifs: &[DataLif],
    volumes: &[VolumeInfo],
    wanted: bool,
) -> Result<Option<Backing>, Error> {
    match resolve_storage(s, lifs, volumes) {
        Ok(b) => Ok(b),
        Err(_) if !wanted => Ok(None),
        Err(Ambiguous(found)) => {
            let mut clusters: Vec<String> = found.iter().map(|b| b.ontap_cluster.clone()).collect();
            clusters.dedup();
            Err(Error::Precondition(format!(
                "Proxmox storage {:?} ({}:{}) is served by {} volumes that match equally (OntapClusters {}): the \
                 same address answers for several clusters or SVMs, so none is picked; pin the storage in \
                 spec.storageMappings of ProxmoxCluster {:?}",
                s.id,
                s.server.as_deref().unwrap_or("?"),
                s.export.as_deref().unwrap_or("?"),
                found.len(),
                clusters.join(", "),
                run.pve_name
            )))
        }
    }
}

/// The volume a storage is pinned to (`spec.storageMappings`). Its OntapCluster must let the namespace use it;
/// what the tenant is told names neither that cluster nor the volume, which its owner chose.
async fn pinned_backing(
    run: &Lookup<'_>,
    ontaps: &[(crate::api::OntapCluster, OntapClient)],
    st: &PveStorage,
    pin: &StorageMapping,
) -> Result<Backing, Error> {
    let cluster = &pin.ontap_cluster_ref.name;
    let Some((_, client)) = ontaps.iter().find(|(oc, _)| &oc.name_any() == cluster) else {
        return Err(Error::Precondition(format!(
            "Proxmox storage {:?} is pinned (spec.storageMappings of ProxmoxCluster {:?}) to an OntapCluster \
             this namespace may not use or that is not ready: ask the ProxmoxCluster's owner",
            st.id, run.pve_name
        )));
    };
    let Some(v) = client.find_volume(&pin.svm, &pin.volume).await? else {
        return Err(Error::Precondition(format!(
            "Proxmox storage {:?} is pinned (spec.storageMappings of ProxmoxCluster {:?}) to an ONTAP volume \
             that does not exist: ask the ProxmoxCluster's owner to correct the mapping",
            st.id, run.pve_name
        )));
    };
    // The export's path below the volume's junction is the storage root, unless the pin says otherwise.
    let subdir = pin.subdir.clone().unwrap_or_else(|| {
        let export = st
            .export
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        let junction = v
            .junction
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        match export.strip_prefix(junction) {
            Some(rest) if !junction.is_empty() && rest.starts_with('/') => rest[1..].to_owned(),
            _ => String::new(),
        }
    });
    Ok(Backing {
        ontap_cluster: cluster.clone(),
        svm: v.svm,
        volume: v.name,
        volume_uuid: v.uuid,
        subdir,
    })
}

fn collect(
    into: &mut Vec<VolumeInfo>,
    cluster: &str,
    volumes: Vec<crate::controller::ports::OntapVolume>,
) {
    for v in volumes {
        if let Some(junction) = v.junction {
            into.push(VolumeInfo {
                ontap_cluster: cluster.to_owned(),
                svm: v.svm,
                name: v.name,
                uuid: v.uuid,
                junction,
            });
        }
    }
}

/// Forgets what was learned about `storage` (a clone from it failed): the next plan asks again.
pub fn forget(run: &Lookup<'_>, storage: &str) {
    run.facts
        .backings
        .forget(&format!("{}/{storage}", run.pve_name));
}

fn client_of<'a>(
    ontaps: &'a [(crate::api::OntapCluster, OntapClient)],
    name: &str,
) -> Result<&'a OntapClient, Error> {
    ontaps
        .iter()
        .find(|(oc, _)| oc.name_any() == name)
        .map(|(_, c)| c)
        .ok_or_else(|| Error::Waiting(format!("OntapCluster {name} vanished while planning")))
}

/// The NFS data LIFs of every allowed OntapCluster.
async fn serving_lifs(
    run: &Lookup<'_>,
    ontaps: &[(crate::api::OntapCluster, OntapClient)],
    fresh: bool,
    remembered: &mut bool,
) -> Result<Vec<DataLif>, Error> {
    let facts = run.facts;
    let mut out = Vec::new();
    for (oc, client) in ontaps {
        let name = oc.name_any();
        let lifs = match facts.data_lifs.get(&name).filter(|_| !fresh) {
            Some(l) => {
                *remembered = true;
                l
            }
            None => {
                let l = client.data_lifs().await?;
                facts.data_lifs.put(name.clone(), l.clone());
                l
            }
        };
        out.extend(lifs.into_iter().map(|(address, svm)| DataLif {
            ontap_cluster: name.clone(),
            address,
            svm,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_and_their_parents() {
        assert_eq!(
            export_and_parents("/pve/a/sub/"),
            ["/pve/a/sub", "/pve/a", "/pve"]
        );
        assert_eq!(export_and_parents("/pve_images"), ["/pve_images"]);
        assert!(export_and_parents("/").is_empty());
    }
}
