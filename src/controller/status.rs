//! Status writes: server-side apply of `/status` under one field manager. Condition helpers live in
//! `crate::api::conditions` (shared with the types).

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "pve-ontap-controller";

/// Current time as an RFC 3339 string with whole seconds, for status timestamps kept as strings.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes `status` with server-side apply; the body names apiVersion and kind as SSA requires.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}
