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

use super::backing::{resolve_storage, Backing, DataLif, StorageInfo, VolumeInfo};
use super::Lookup;

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
    let facts = run.facts;
    let key = |id: &str| format!("{}/{id}", run.pve_name);
    let mut out = Backings {
        by_storage: HashMap::new(),
        broken,
        remembered: false,
        listed: Vec::new(),
    };
    let mut missing = Vec::new();
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

    let storages: Vec<PveStorage> = match facts.storages.get(run.pve_name).filter(|_| !fresh) {
        Some(s) => {
            out.remembered = true;
            s
        }
        None => {
            let s = run.pve.storages().await?;
            facts.storages.put(run.pve_name, s.clone());
            s
        }
    };
    out.listed = storages.clone();
    // Every NFS storage is resolved while at it: one query per SVM answers for all of them, so the next VM on
    // another storage costs nothing (the answer grows with the storages, not with the volumes).
    let nfs: Vec<StorageInfo> = storages
        .iter()
        .filter(|s| s.kind == "nfs" && s.server.is_some() && s.export.is_some())
        .map(|s| StorageInfo {
            id: s.id.clone(),
            kind: s.kind.clone(),
            server: s.server.clone(),
            export: s.export.clone(),
        })
        .collect();
    let mut lifs = serving_lifs(run, &ontaps, fresh, &mut out.remembered).await?;
    let unserved = |lifs: &[DataLif]| {
        missing.iter().any(|id| {
            nfs.iter()
                .find(|s| &s.id == id)
                .is_some_and(|s| !lifs.iter().any(|l| Some(&l.address) == s.server.as_ref()))
        })
    };
    if !fresh && unserved(&lifs) {
        // LIFs move rarely, but a remembered list must not hide a new one.
        lifs = serving_lifs(run, &ontaps, true, &mut out.remembered).await?;
    }
    // Only storages a LIF serves can be ONTAP volumes; a disk on another kind of storage costs no query.
    let served = |s: &StorageInfo| lifs.iter().any(|l| s.server.as_ref() == Some(&l.address));
    if !nfs.iter().any(|s| missing.contains(&s.id) && served(s)) {
        return Ok(out);
    }
    let mut paths: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for s in &nfs {
        for lif in lifs
            .iter()
            .filter(|l| s.server.as_ref() == Some(&l.address))
        {
            paths
                .entry((lif.ontap_cluster.clone(), lif.svm.clone()))
                .or_default()
                .extend(export_and_parents(s.export.as_deref().unwrap_or_default()));
        }
    }
    let mut volumes = Vec::new();
    for ((cluster, svm), paths) in &paths {
        let client = client_of(&ontaps, cluster)?;
        let paths: Vec<String> = paths.iter().cloned().collect();
        collect(
            &mut volumes,
            cluster,
            client.volumes_at_paths(svm, &paths).await?,
        );
    }
    let mut listed = BTreeSet::new();
    for s in &nfs {
        let mut backing = resolve_storage(s, &lifs, &volumes);
        let wanted = missing.contains(&s.id);
        if backing.is_none() && wanted {
            // The filter found nothing although a LIF may serve the export (a path the query cannot express):
            // fall back to every volume of those clusters.
            for lif in lifs
                .iter()
                .filter(|l| s.server.as_ref() == Some(&l.address))
            {
                if listed.insert(lif.ontap_cluster.clone()) {
                    let client = client_of(&ontaps, &lif.ontap_cluster)?;
                    collect(&mut volumes, &lif.ontap_cluster, client.volumes().await?);
                }
            }
            backing = resolve_storage(s, &lifs, &volumes);
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
