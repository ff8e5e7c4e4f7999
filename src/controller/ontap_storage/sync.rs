//! The OntapStorage objects of one ProxmoxCluster: made when a storage resolves, status written on each
//! refresh, deleted when the storage is gone. Only objects owned by that ProxmoxCluster (owner reference with
//! its UID, our label) are ever written or deleted; an object of the same name someone else made is left alone.

use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::ontap_storage::{OntapStorageSpec, PROXMOX_CLUSTER_LABEL};
use crate::api::{OntapStorage, OntapStorageStatus, ProxmoxCluster};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::status::apply_status;

fn api(ctx: &Context) -> Api<OntapStorage> {
    Api::all(ctx.client.clone())
}

/// Whether `obj` is the OntapStorage of ProxmoxCluster `pc` (its controller owner reference).
pub fn owned_by(obj: &OntapStorage, pc: &ProxmoxCluster) -> bool {
    let uid = pc.uid().unwrap_or_default();
    obj.owner_references()
        .iter()
        .any(|o| o.uid == uid && o.kind == "ProxmoxCluster" && o.controller == Some(true))
}

/// The OntapStorages carrying `pc`'s label (whoever made them; callers check [`owned_by`]).
pub async fn existing(ctx: &Context, pc: &ProxmoxCluster) -> Result<Vec<OntapStorage>, Error> {
    let selector = format!("{PROXMOX_CLUSTER_LABEL}={}", pc.uid().unwrap_or_default());
    Ok(api(ctx)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// Makes the object unless it exists, then writes its status. False when an object of that name exists that
/// `pc` does not own (it is not touched).
pub async fn write(
    ctx: &Context,
    pc: &ProxmoxCluster,
    name: &str,
    current: Option<&OntapStorage>,
    status: &OntapStorageStatus,
) -> Result<bool, Error> {
    let api = api(ctx);
    let current = match current {
        Some(c) => Some(c.clone()),
        None => api.get_opt(name).await?,
    };
    match current {
        Some(obj) if !owned_by(&obj, pc) => {
            warn!(
                object = name,
                "an OntapStorage of this name exists that the controller did not make; left alone"
            );
            return Ok(false);
        }
        Some(obj) if obj.status.as_ref() == Some(status) => return Ok(true),
        Some(_) => {}
        None => {
            let mut obj = OntapStorage::new(name, OntapStorageSpec {});
            let meta = obj.meta_mut();
            meta.labels = Some(
                [(
                    PROXMOX_CLUSTER_LABEL.to_owned(),
                    pc.uid().unwrap_or_default(),
                )]
                .into_iter()
                .collect(),
            );
            // Owned by the ProxmoxCluster: the garbage collector removes it with the cluster.
            meta.owner_references = pc.controller_owner_ref(&()).map(|mut o| {
                o.block_owner_deletion = Some(false);
                vec![o]
            });
            match api.create(&PostParams::default(), &obj).await {
                Ok(_) => info!(object = name, storage = %status.storage, "OntapStorage created"),
                // Made by a refresh running at the same time: the status write below settles it.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    apply_status(&api, name, status).await?;
    Ok(true)
}

/// Deletes an OntapStorage of `pc` whose storage no longer resolves; the UID precondition makes sure it is the
/// object that was looked at.
pub async fn delete(ctx: &Context, pc: &ProxmoxCluster, obj: &OntapStorage) -> Result<(), Error> {
    if !owned_by(obj, pc) {
        return Ok(());
    }
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: obj.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api(ctx).delete(&obj.name_any(), &dp).await {
        Ok(_) => {
            info!(object = %obj.name_any(), "OntapStorage deleted: its storage is gone or no longer resolves");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
