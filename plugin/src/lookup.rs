//! Finding objects the way users of the old script name things: a snapshot by its VolumeSnapshot name or by its
//! ONTAP snapshot name, a mount by its FlexCloneMount name or by its Proxmox storage id.

use kube::api::ListParams;
use kube::ResourceExt;
use pve_ontap_controller::api::{FlexCloneMount, VolumeSnapshot};

use crate::context::{api_error, fail, Ctx};
use crate::submit::Kind;

/// Whether `name` can be a Kubernetes object name at all (ONTAP names such as `daily.0_x` often cannot).
pub fn is_object_name(name: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    name.len() <= 253
        && RE
            .get_or_init(|| {
                regex::Regex::new(pve_ontap_controller::api::common::K8S_NAME_PATTERN)
                    .expect("valid pattern")
            })
            .is_match(name)
}

pub async fn list<K: Kind>(ctx: &Ctx) -> anyhow::Result<Vec<K>> {
    ctx.api::<K>()
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| {
            api_error(
                &format!("listing {}s in namespace {}", K::kind(&()), ctx.namespace),
                e,
            )
        })
}

async fn by_name<K: Kind>(ctx: &Ctx, name: &str) -> anyhow::Result<Option<K>> {
    if !is_object_name(name) {
        return Ok(None);
    }
    ctx.api::<K>()
        .get_opt(name)
        .await
        .map_err(|e| api_error(&format!("reading {} {name}", K::kind(&())), e))
}

/// The one of `found` or an error saying there were none or several.
fn the_one<K: Kind>(
    what: &str,
    arg: &str,
    ns: &str,
    mut found: Vec<K>,
) -> anyhow::Result<Option<K>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(fail(format!(
            "{} {what}s in namespace {ns} match {arg:?}: {}; name one by its object name",
            found.len(),
            found
                .iter()
                .map(|k| k.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A VolumeSnapshot by object name, else by `status.snapshotName`.
pub async fn snapshot(ctx: &Ctx, arg: &str) -> anyhow::Result<Option<VolumeSnapshot>> {
    if let Some(s) = by_name::<VolumeSnapshot>(ctx, arg).await? {
        return Ok(Some(s));
    }
    let found: Vec<VolumeSnapshot> = list::<VolumeSnapshot>(ctx)
        .await?
        .into_iter()
        .filter(|s| s.status.as_ref().and_then(|st| st.snapshot_name.as_deref()) == Some(arg))
        .collect();
    the_one("VolumeSnapshot", arg, &ctx.namespace, found)
}

/// Like [`snapshot`], but missing is an error that says where to look.
pub async fn existing_snapshot(ctx: &Ctx, arg: &str) -> anyhow::Result<VolumeSnapshot> {
    snapshot(ctx, arg).await?.ok_or_else(|| {
        fail(format!(
            "no VolumeSnapshot in namespace {} is named {arg:?} (object or ONTAP snapshot name); \
             `kubectl pveontap storage list` shows them",
            ctx.namespace
        ))
    })
}

/// A FlexCloneMount by object name, else by `status.storageId` / `spec.storageId` (Proxmox ids are matched
/// case-insensitively, as Proxmox does).
pub async fn mount(ctx: &Ctx, arg: &str) -> anyhow::Result<Option<FlexCloneMount>> {
    if let Some(m) = by_name::<FlexCloneMount>(ctx, arg).await? {
        return Ok(Some(m));
    }
    let found: Vec<FlexCloneMount> = list::<FlexCloneMount>(ctx)
        .await?
        .into_iter()
        .filter(|m| {
            let id = m
                .status
                .as_ref()
                .and_then(|s| s.storage_id.clone())
                .or_else(|| m.spec.storage_id.clone());
            id.is_some_and(|id| id.eq_ignore_ascii_case(arg))
        })
        .collect();
    the_one("FlexCloneMount", arg, &ctx.namespace, found)
}

/// The mounts that depend on VolumeSnapshot `name` (not split from it).
pub fn mounts_of<'a>(mounts: &'a [FlexCloneMount], name: &str) -> Vec<&'a FlexCloneMount> {
    mounts
        .iter()
        .filter(|m| {
            m.spec
                .volume_snapshot_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
        .filter(|m| !m.status.as_ref().is_some_and(|s| s.split_complete))
        .collect()
}

/// `name (storage id)` of a mount.
pub fn mount_label(m: &FlexCloneMount) -> String {
    match m.status.as_ref().and_then(|s| s.storage_id.as_deref()) {
        Some(id) => format!("{} ({id})", m.name_any()),
        None => m.name_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ontap_names_are_not_object_names() {
        assert!(is_object_name("ontap01-20260105-143012"));
        assert!(!is_object_name("pveontap_ontap01_1a2b"));
        assert!(!is_object_name("Daily.0"));
    }
}
