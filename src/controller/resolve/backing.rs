//! Pure: which ONTAP volume serves a Proxmox NFS storage, from the storage's server and export, the clusters'
//! data LIFs and their volumes' junction paths.

/// A Proxmox storage as far as planning cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageInfo {
    pub id: String,
    /// Proxmox storage type (`nfs`, `dir`, `lvmthin`, ...).
    pub kind: String,
    pub server: Option<String>,
    pub export: Option<String>,
    /// The addresses `server` resolves to (itself when it is an address).
    pub addresses: Vec<std::net::IpAddr>,
}

/// A data LIF of an ONTAP cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataLif {
    pub ontap_cluster: String,
    pub address: String,
    pub svm: String,
}

/// A mounted ONTAP volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    pub ontap_cluster: String,
    pub svm: String,
    pub name: String,
    pub uuid: String,
    pub junction: String,
}

/// Where a Proxmox NFS storage lives on ONTAP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    pub ontap_cluster: String,
    pub svm: String,
    pub volume: String,
    pub volume_uuid: String,
    /// Directory of the storage root inside the volume: empty when the export is the junction itself.
    pub subdir: String,
}

impl Backing {
    /// Path inside the volume of a file under the storage root.
    pub fn path_in_volume(&self, rel: &str) -> String {
        if self.subdir.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.subdir)
        }
    }
}

/// Two or more volumes of different clusters or SVMs serve the storage equally well (the same address answers
/// for both, e.g. duplicate LIF IPs in separate networks): resolution must not pick one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous(pub Vec<Backing>);

/// Resolves an NFS storage to its ONTAP volume: `server`'s addresses against data-LIF addresses (giving cluster
/// and SVM), `export` against junction paths of that SVM's volumes. The longest junction that is the export or a
/// parent directory of it wins, so exports of sub-directories resolve too; a tie between different volumes is
/// [`Ambiguous`].
pub fn resolve_storage(
    storage: &StorageInfo,
    lifs: &[DataLif],
    volumes: &[VolumeInfo],
) -> Result<Option<Backing>, Ambiguous> {
    if storage.kind != "nfs" {
        return Ok(None);
    }
    let Some(export) = storage.export.as_deref() else {
        return Ok(None);
    };
    let export = export.trim_end_matches('/');
    let mut best: Vec<(&VolumeInfo, String)> = Vec::new();
    for lif in lifs
        .iter()
        .filter(|l| super::hosts::serves(&l.address, &storage.addresses))
    {
        for vol in volumes
            .iter()
            .filter(|v| v.ontap_cluster == lif.ontap_cluster && v.svm == lif.svm)
        {
            let junction = vol.junction.trim_end_matches('/');
            if junction.is_empty() {
                continue;
            }
            // nas.path matching is case-insensitive on ONTAP.
            let subdir = if export.eq_ignore_ascii_case(junction) {
                Some(String::new())
            } else if export.len() > junction.len()
                && export[..junction.len()].eq_ignore_ascii_case(junction)
                && export.as_bytes()[junction.len()] == b'/'
            {
                Some(export[junction.len() + 1..].to_owned())
            } else {
                None
            };
            if let Some(subdir) = subdir {
                let longest = best.first().map_or(0, |(b, _)| b.junction.len());
                if vol.junction.len() > longest {
                    best.clear();
                }
                if vol.junction.len() >= longest
                    && !best
                        .iter()
                        .any(|(b, _)| b.ontap_cluster == vol.ontap_cluster && b.uuid == vol.uuid)
                {
                    best.push((vol, subdir));
                }
            }
        }
    }
    let mut found: Vec<Backing> = best
        .into_iter()
        .map(|(v, subdir)| Backing {
            ontap_cluster: v.ontap_cluster.clone(),
            svm: v.svm.clone(),
            volume: v.name.clone(),
            volume_uuid: v.uuid.clone(),
            subdir,
        })
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Ambiguous(found)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_storage_by_lif_and_junction() {
        let lifs = vec![
            DataLif {
                ontap_cluster: "c1".into(),
                address: "192.0.2.10".into(),
                svm: "svm1".into(),
            },
            DataLif {
                ontap_cluster: "c2".into(),
                address: "192.0.2.20".into(),
                svm: "svm9".into(),
            },
        ];
        let vols = vec![
            VolumeInfo {
                ontap_cluster: "c1".into(),
                svm: "svm1".into(),
                name: "pve_a".into(),
                uuid: "u1".into(),
                junction: "/pve/a".into(),
            },
            VolumeInfo {
                ontap_cluster: "c1".into(),
                svm: "svm1".into(),
                name: "pve".into(),
                uuid: "u0".into(),
                junction: "/pve".into(),
            },
            VolumeInfo {
                ontap_cluster: "c2".into(),
                svm: "svm9".into(),
                name: "other".into(),
                uuid: "u2".into(),
                junction: "/pve/a".into(),
            },
        ];
        let st = |server: &str, export: &str| StorageInfo {
            id: "s".into(),
            kind: "nfs".into(),
            server: Some(server.into()),
            export: Some(export.into()),
            addresses: vec![server.parse().unwrap()],
        };
        let b = resolve_storage(&st("192.0.2.10", "/pve/a"), &lifs, &vols)
            .unwrap()
            .unwrap();
        assert_eq!((b.volume.as_str(), b.subdir.as_str()), ("pve_a", ""));
        let b = resolve_storage(&st("192.0.2.10", "/PVE/a/sub/"), &lifs, &vols)
            .unwrap()
            .unwrap();
        assert_eq!((b.volume.as_str(), b.subdir.as_str()), ("pve_a", "sub"));
        assert_eq!(b.path_in_volume("images/100/x.raw"), "sub/images/100/x.raw");
        let b = resolve_storage(&st("192.0.2.10", "/pve/ab"), &lifs, &vols)
            .unwrap()
            .unwrap();
        assert_eq!((b.volume.as_str(), b.subdir.as_str()), ("pve", "ab"));
        let b = resolve_storage(&st("192.0.2.20", "/pve/a"), &lifs, &vols)
            .unwrap()
            .unwrap();
        assert_eq!(b.ontap_cluster, "c2");
        assert_eq!(
            resolve_storage(&st("192.0.2.99", "/pve/a"), &lifs, &vols),
            Ok(None)
        );
        let mut dir = st("192.0.2.10", "/pve/a");
        dir.kind = "dir".into();
        assert_eq!(resolve_storage(&dir, &lifs, &vols), Ok(None));
        // The same address on two clusters, a volume at the export on each: refused, both named.
        let mut twin = lifs.clone();
        twin[1].address = "192.0.2.10".into();
        let mut twin_vols = vols.clone();
        twin_vols[2].svm = "svm9".into();
        let Err(Ambiguous(both)) = resolve_storage(&st("192.0.2.10", "/pve/a"), &twin, &twin_vols)
        else {
            panic!("ambiguous")
        };
        let clusters: Vec<_> = both.iter().map(|b| b.ontap_cluster.as_str()).collect();
        assert_eq!(clusters, ["c1", "c2"]);
    }
}
