//! What a refresh reads: per storage one volume GET and one snapshot listing (plus one clone listing when ONTAP
//! says the volume has FlexClones), and the objects of this cluster that may manage what it finds.

use std::collections::HashMap;

use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::plan::Owners;
use crate::api::ontap_storage::ManagingObject;
use crate::api::{FlexCloneMount, VmDiskClone, VolumeSnapshot};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming::marker_cluster;
use crate::controller::ports::{OntapClient, OntapVolume, SnapshotDetail, VolumeUsage};

/// One volume as read in one refresh.
pub struct Observed {
    pub usage: VolumeUsage,
    pub snapshots: Vec<SnapshotDetail>,
    pub clones: Vec<OntapVolume>,
}

pub async fn volume(ontap: &OntapClient, volume_uuid: &str) -> Result<Observed, Error> {
    let usage = ontap.volume_usage(volume_uuid).await?;
    let snapshots = ontap.snapshot_details(volume_uuid).await?;
    let clones = if super::plan::needs_clone_listing(&usage, &snapshots) {
        ontap.clones_of_volume(volume_uuid).await?
    } else {
        Vec::new()
    };
    Ok(Observed {
        usage,
        snapshots,
        clones,
    })
}

async fn list<K>(ctx: &Context) -> Result<Vec<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let lp = ListParams::default();
    if ctx.settings.namespaces.is_empty() {
        return Ok(Api::<K>::all(ctx.client.clone()).list(&lp).await?.items);
    }
    let mut out = Vec::new();
    for ns in &ctx.settings.namespaces {
        out.extend(
            Api::<K>::namespaced(ctx.client.clone(), ns)
                .list(&lp)
                .await?
                .items,
        );
    }
    Ok(out)
}

fn managing<K: Resource<DynamicType = ()>>(obj: &K, schedule: Option<String>) -> ManagingObject {
    ManagingObject {
        kind: K::kind(&()).into_owned(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        schedule,
    }
}

/// The objects of the namespaces this controller serves that can make or hold a snapshot or a FlexClone.
pub async fn owners(ctx: &Context) -> Result<Owners, Error> {
    let mut by_uid = HashMap::new();
    let mut by_snapshot_uuid = HashMap::new();
    for vs in list::<VolumeSnapshot>(ctx).await? {
        let schedule = vs
            .owner_references()
            .iter()
            .find(|o| o.kind == "VolumeSnapshotSchedule")
            .map(|o| o.name.clone());
        let obj = managing(&vs, schedule);
        let status = vs.status.clone().unwrap_or_default();
        if let Some(uuid) = status.snapshot_uuid {
            by_snapshot_uuid.insert(uuid, (obj.clone(), status.adopted));
        }
        by_uid.insert(vs.uid().unwrap_or_default(), obj);
    }
    // A VmDiskClone's crash-point snapshot lives for the seconds its copies take.
    for vdc in list::<VmDiskClone>(ctx).await? {
        by_uid.insert(vdc.uid().unwrap_or_default(), managing(&vdc, None));
    }
    let mounts = list::<FlexCloneMount>(ctx)
        .await?
        .into_iter()
        .map(|m| {
            (
                m.uid().unwrap_or_default(),
                format!("{}/{}", m.namespace().unwrap_or_default(), m.name_any()),
            )
        })
        .collect();
    Ok(Owners {
        our_cluster: marker_cluster(&ctx.settings.cluster_id),
        by_uid,
        by_snapshot_uuid,
        mounts,
    })
}
