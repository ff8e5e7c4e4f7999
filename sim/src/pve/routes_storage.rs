//! `/storage` (cluster-wide storage configuration) and `/nodes/{node}/storage/...` (status, content).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::api::{check_node, respond, Call};
use super::auth::{self, Identity};
use super::drive::{self, VolumeId};
use super::error::{PveError, PveResult};
use super::params::Params;
use super::state::{Pve, StorageConfig, StorageType};
use super::tasks::{self, TaskAction, TaskRequest};
use super::volumes;
use crate::world::Sim;

const STORAGE_TYPES: &str =
    "btrfs, cephfs, cifs, dir, esxi, glusterfs, iscsi, iscsidirect, lvm, lvmthin, nfs, pbs, rbd, zfs, zfspool";
const CONTENT_TYPES: &[&str] = &[
    "images", "rootdir", "iso", "vztmpl", "backup", "snippets", "import",
];

/// Options of the storage schema, and which ones each simulated plugin accepts.
const SCHEMA_OPTIONS: &[&str] = &[
    "storage",
    "type",
    "server",
    "export",
    "path",
    "content",
    "options",
    "nodes",
    "disable",
    "shared",
    "format",
    "preallocation",
    "prune-backups",
    "max-protected-backups",
    "content-dirs",
    "create-base-path",
    "create-subdirs",
    "bwlimit",
    "snapshot-as-volume-chain",
    "is_mountpoint",
    "mkdir",
    "pool",
    "vgname",
    "thinpool",
    "share",
    "username",
    "password",
    "domain",
    "smbversion",
    "subdir",
    "monhost",
    "krbd",
    "portal",
    "target",
    "datastore",
    "fingerprint",
    "blocksize",
    "sparse",
    "mountpoint",
    "base",
    "saferemove",
    "tagged_only",
    "fs-name",
    "namespace",
    "encryption-key",
    "master-pubkey",
    "keyring",
    "data-pool",
];
const NFS_OPTIONS: &[&str] = &[
    "storage",
    "type",
    "server",
    "export",
    "path",
    "content",
    "options",
    "nodes",
    "disable",
    "format",
    "preallocation",
    "prune-backups",
    "max-protected-backups",
    "content-dirs",
    "create-base-path",
    "create-subdirs",
    "bwlimit",
    "snapshot-as-volume-chain",
];
const DIR_OPTIONS: &[&str] = &[
    "storage",
    "type",
    "path",
    "content",
    "nodes",
    "disable",
    "shared",
    "format",
    "preallocation",
    "prune-backups",
    "max-protected-backups",
    "content-dirs",
    "create-base-path",
    "create-subdirs",
    "bwlimit",
    "is_mountpoint",
    "mkdir",
    "snapshot-as-volume-chain",
];
/// Options set at creation only.
const FIXED_OPTIONS: &[&str] = &["type", "server", "export", "path"];
/// Plain options kept in `extra` and echoed back.
const EXTRA_OPTIONS: &[&str] = &[
    "format",
    "preallocation",
    "prune-backups",
    "max-protected-backups",
    "content-dirs",
    "create-base-path",
    "create-subdirs",
    "bwlimit",
    "snapshot-as-volume-chain",
    "is_mountpoint",
    "mkdir",
];

fn can_see_storage(pve: &Pve, who: &Identity, id: &str) -> bool {
    let path = format!("/storage/{id}");
    auth::has(pve, who, &path, "Datastore.Audit")
        || auth::has(pve, who, &path, "Datastore.AllocateSpace")
}

pub async fn list(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let kind = p.take("type");
        p.reject_unknown(&[])?;
        let w = sim.world();
        let digest = w.pve.storage_digest();
        Ok(Value::Array(
            w.pve
                .storages
                .iter()
                .filter(|s| kind.as_deref().is_none_or(|k| k == s.kind.as_str()))
                .filter(|s| can_see_storage(&w.pve, &who, &s.storage))
                .map(|s| s.to_json(&digest))
                .collect(),
        ))
    })())
}

pub async fn get_one(State(sim): State<Arc<Sim>>, Path(id): Path<String>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        call.params().reject_unknown(&[])?;
        let w = sim.world();
        auth::check(
            &w.pve,
            &who,
            &format!("/storage/{id}"),
            &["Datastore.Allocate"],
        )?;
        let st = existing_storage(&w.pve, &id)?;
        Ok(st.to_json(&w.pve.storage_digest()))
    })())
}

/// The storage `id`; PVE reports a missing one as a 500 with this text.
fn existing_storage<'a>(pve: &'a Pve, id: &str) -> PveResult<&'a StorageConfig> {
    pve.storage(id)
        .ok_or_else(|| PveError::internal(format!("storage '{id}' does not exist")))
}

/// The storage `id` for a reader of its status or content: PVE wants Datastore.Audit or Datastore.AllocateSpace
/// on `/storage/{id}` before it says whether the storage exists.
fn readable_storage<'a>(pve: &'a Pve, who: &Identity, id: &str) -> PveResult<&'a StorageConfig> {
    auth::check_any(
        pve,
        who,
        &format!("/storage/{id}"),
        &["Datastore.Audit", "Datastore.AllocateSpace"],
    )?;
    existing_storage(pve, id)
}

fn parse_content(raw: &str) -> PveResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for c in raw.split([',', ';', ' ']).filter(|c| !c.is_empty()) {
        if c == "none" {
            continue;
        }
        if !CONTENT_TYPES.contains(&c) {
            return Err(PveError::param(
                "content",
                format!("invalid format - invalid content type '{c}'"),
            ));
        }
        out.insert(c.to_string());
    }
    Ok(out)
}

fn is_valid_server(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        })
}

fn check_schema(p: &Params) -> PveResult<()> {
    let unknown: Vec<(String, String)> = p
        .keys()
        .filter(|k| !SCHEMA_OPTIONS.contains(k) && *k != "delete" && *k != "digest")
        .map(|k| (k.to_string(), "property is not defined in schema and the schema does not allow additional properties".to_string()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(PveError::params(unknown))
    }
}

fn validate_common(p: &mut Params, st: &mut StorageConfig) -> PveResult<()> {
    if let Some(c) = p.take("content") {
        st.content = parse_content(&c)?;
    }
    if let Some(o) = p.take("options") {
        if o.chars().any(char::is_whitespace) {
            return Err(PveError::param(
                "options",
                "invalid format - value does not match the regex pattern",
            ));
        }
        st.options = Some(o);
    }
    if let Some(n) = p.take("nodes") {
        let list: Vec<String> = n
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        st.nodes = if list.is_empty() { None } else { Some(list) };
    }
    if let Some(d) = p.take_bool("disable")? {
        st.disable = d;
    }
    if st.kind == StorageType::Dir {
        if let Some(s) = p.take_bool("shared")? {
            st.shared = s;
        }
    }
    if let Some(f) = p.get("format") {
        if drive::ImageFormat::parse(f).is_none() || f == "subvol" {
            return Err(PveError::param("format", format!("value '{f}' does not have a value in the enumeration 'raw, qcow2, subvol, vmdk'")));
        }
    }
    for key in EXTRA_OPTIONS {
        if let Some(v) = p.take(key) {
            st.extra.insert((*key).to_string(), v);
        }
    }
    Ok(())
}

pub async fn create(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond(create_inner(&sim, call))
}

fn create_inner(sim: &Arc<Sim>, call: Call) -> PveResult<Value> {
    let who = call.begin(sim)?;
    let mut p = call.params();
    check_schema(&p)?;
    let id = p.require("storage")?;
    let kind = p.require("type")?;
    if !drive::is_valid_storage_id(&id) {
        return Err(PveError::param(
            "storage",
            format!("invalid format - storage ID '{id}' contains illegal characters"),
        ));
    }
    if !STORAGE_TYPES.split(", ").any(|t| t == kind) {
        return Err(PveError::param(
            "type",
            format!("value '{kind}' does not have a value in the enumeration '{STORAGE_TYPES}'"),
        ));
    }
    let kind = match kind.as_str() {
        "nfs" => StorageType::Nfs,
        "dir" => StorageType::Dir,
        other => {
            return Err(PveError::internal(format!(
                "storage type '{other}' is not supported by this simulator"
            )))
        }
    };
    if let Some(server) = p.get("server") {
        if !is_valid_server(server) {
            return Err(PveError::param(
                "server",
                format!("invalid format - value does not look like a valid address: {server}"),
            ));
        }
    }
    for key in ["export", "path"] {
        if let Some(v) = p.get(key) {
            if !v.starts_with('/') {
                return Err(PveError::param(
                    key,
                    format!("invalid format - value does not look like a valid absolute path: {v}"),
                ));
            }
        }
    }
    let allowed = if kind == StorageType::Nfs {
        NFS_OPTIONS
    } else {
        DIR_OPTIONS
    };
    if let Some(bad) = p.keys().find(|k| !allowed.contains(k)) {
        return Err(PveError::internal(format!("unexpected property '{bad}'")));
    }
    {
        let w = sim.world();
        auth::check(&w.pve, &who, "/storage", &["Datastore.Allocate"])?;
    }
    let server = p.take("server");
    let export = p.take("export");
    let path = p.take("path");
    if kind == StorageType::Nfs {
        if server.is_none() {
            return Err(PveError::internal(
                "missing value for required option 'server'",
            ));
        }
        if export.is_none() {
            return Err(PveError::internal(
                "missing value for required option 'export'",
            ));
        }
    }
    let path = match (path, kind) {
        (Some(p), _) => p,
        (None, StorageType::Nfs) => format!("/mnt/pve/{id}"),
        (None, StorageType::Dir) => {
            return Err(PveError::internal(
                "missing value for required option 'path'",
            ))
        }
    };
    let mut st = StorageConfig {
        storage: id.clone(),
        kind,
        path,
        server,
        export,
        content: ["images".to_string()].into_iter().collect(),
        options: None,
        nodes: None,
        disable: false,
        shared: kind == StorageType::Nfs,
        extra: BTreeMap::new(),
        capacity: 100 << 30,
    };
    if kind == StorageType::Dir {
        st.content = ["images", "rootdir"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    validate_common(&mut p, &mut st)?;
    sim.mutate(|w| {
        if w.pve.storage(&id).is_some() {
            return Err(PveError::internal(format!(
                "create storage failed: storage ID '{id}' already defined"
            )));
        }
        // The handling node mounts the share right away; an unreachable export aborts the create.
        let local = w
            .pve
            .nodes
            .first()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        if st.enabled_on(&local) {
            volumes::activate(w, &st, &local)
                .map_err(|e| PveError::internal(format!("create storage failed: {e}")))?;
        }
        if st.kind == StorageType::Dir {
            w.pve.dir_files.entry(id.clone()).or_default();
        }
        w.pve.storages.push(st.clone());
        Ok(())
    })?;
    sim.record_event(
        "pve",
        "storage_add",
        format!(
            "{} {} {}",
            st.storage,
            st.kind.as_str(),
            describe_target(&st)
        ),
    );
    Ok(json!({ "storage": id, "type": kind.as_str() }))
}

fn describe_target(st: &StorageConfig) -> String {
    match (&st.server, &st.export) {
        (Some(s), Some(e)) => format!("{s}:{e}"),
        _ => st.path.clone(),
    }
}

pub async fn update(State(sim): State<Arc<Sim>>, Path(id): Path<String>, call: Call) -> Response {
    respond(update_inner(&sim, &id, call))
}

fn update_inner(sim: &Arc<Sim>, id: &str, call: Call) -> PveResult<Value> {
    let who = call.begin(sim)?;
    let mut p = call.params();
    check_schema(&p)?;
    p.take("storage");
    {
        let w = sim.world();
        auth::check(&w.pve, &who, "/storage", &["Datastore.Allocate"])?;
    }
    let digest = p.take("digest");
    let delete: Vec<String> = p
        .take("delete")
        .map(|d| {
            d.split([',', ';', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let result = sim.mutate(|w| {
        let current_digest = w.pve.storage_digest();
        let idx = w
            .pve
            .storages
            .iter()
            .position(|s| s.storage == id)
            .ok_or_else(|| PveError::internal(format!("update storage failed: storage '{id}' does not exist")))?;
        if digest.as_ref().is_some_and(|d| *d != current_digest) {
            return Err(PveError::internal(
                "update storage failed: detected modified configuration - file changed by other user? Try again.",
            ));
        }
        let mut st = w.pve.storages[idx].clone();
        if let Some(fixed) = p.keys().find(|k| FIXED_OPTIONS.contains(k)) {
            return Err(PveError::internal(format!("update storage failed: can't change value of fixed parameter '{fixed}'")));
        }
        let allowed = if st.kind == StorageType::Nfs { NFS_OPTIONS } else { DIR_OPTIONS };
        if let Some(bad) = p.keys().find(|k| !allowed.contains(k)) {
            return Err(PveError::internal(format!("update storage failed: unexpected property '{bad}'")));
        }
        for key in &delete {
            if FIXED_OPTIONS.contains(&key.as_str()) || (st.kind == StorageType::Nfs && key == "server") {
                return Err(PveError::internal(format!("update storage failed: cannot delete fixed/required option '{key}'")));
            }
            if p.contains(key) {
                return Err(PveError::param("delete", format!("cannot set and delete property '{key}' at the same time!")));
            }
            match key.as_str() {
                "content" => st.content = ["images".to_string()].into_iter().collect(),
                "options" => st.options = None,
                "nodes" => st.nodes = None,
                "disable" => st.disable = false,
                "shared" => st.shared = st.kind == StorageType::Nfs,
                other => {
                    st.extra.remove(other);
                }
            }
        }
        let mut p = p;
        validate_common(&mut p, &mut st)?;
        let kind = st.kind;
        w.pve.storages[idx] = st;
        Ok(kind)
    })?;
    sim.record_event("pve", "storage_update", id.to_string());
    Ok(json!({ "storage": id, "type": result.as_str() }))
}

pub async fn delete(State(sim): State<Arc<Sim>>, Path(id): Path<String>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        call.params().reject_unknown(&["storage"])?;
        {
            let w = sim.world();
            auth::check(&w.pve, &who, "/storage", &["Datastore.Allocate"])?;
        }
        sim.mutate(|w| {
            let idx = w
                .pve
                .storages
                .iter()
                .position(|s| s.storage == id)
                .ok_or_else(|| {
                    PveError::internal(format!(
                        "delete storage failed: storage '{id}' does not exist"
                    ))
                })?;
            // PVE neither unmounts nor checks for VMs still using the storage; dir files stay on disk.
            w.pve.storages.remove(idx);
            Ok::<(), PveError>(())
        })?;
        sim.record_event("pve", "storage_remove", id.clone());
        Ok(Value::Null)
    })())
}

fn node_storage_entry(w: &crate::world::World, st: &StorageConfig, node: &str) -> Value {
    let enabled = st.enabled_on(node);
    let active = enabled && volumes::activate(w, st, node).is_ok();
    let mut v = json!({
        "storage": st.storage,
        "type": st.kind.as_str(),
        "content": st.content_string(),
        "shared": if st.shared { 1 } else { 0 },
        "enabled": if enabled { 1 } else { 0 },
        "active": if active { 1 } else { 0 },
    });
    if active {
        if let Some((total, used, avail)) = volumes::capacity(w, st) {
            v["total"] = json!(total);
            v["used"] = json!(used);
            v["avail"] = json!(avail);
            v["used_fraction"] = json!(if total > 0 {
                used as f64 / total as f64
            } else {
                0.0
            });
        }
    }
    v
}

pub async fn node_list(
    State(sim): State<Arc<Sim>>,
    Path(node): Path<String>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let content = p.take("content");
        let only = p.take("storage");
        let enabled = p.take_bool("enabled")?;
        p.take("format");
        p.take("target");
        p.reject_unknown(&[])?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let out: Vec<Value> = w
            .pve
            .storages
            .iter()
            .filter(|s| only.as_ref().is_none_or(|o| *o == s.storage))
            .filter(|s| {
                content
                    .as_ref()
                    .is_none_or(|c| c.split(',').all(|c| s.content.contains(c)))
            })
            .filter(|s| can_see_storage(&w.pve, &who, &s.storage))
            .filter(|s| enabled != Some(true) || s.enabled_on(&node))
            .filter(|s| s.nodes.as_ref().is_none_or(|n| n.contains(&node)))
            .map(|s| node_storage_entry(&w, s, &node))
            .collect();
        Ok(Value::Array(out))
    })())
}

pub async fn node_status(
    State(sim): State<Arc<Sim>>,
    Path((node, id)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        call.params().reject_unknown(&[])?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let st = readable_storage(&w.pve, &who, &id)?;
        if st.nodes.as_ref().is_some_and(|n| !n.contains(&node)) {
            return Err(PveError::internal(format!(
                "storage '{id}' is not available on node '{node}'"
            )));
        }
        let mut v = node_storage_entry(&w, st, &node);
        if let Some(o) = v.as_object_mut() {
            o.remove("storage");
            o.remove("used_fraction");
        }
        Ok(v)
    })())
}

fn volume_visible(pve: &Pve, who: &Identity, st: &str, entry: &volumes::ContentEntry) -> bool {
    let path = format!("/storage/{st}");
    if auth::has(pve, who, &path, "Datastore.Allocate") {
        return true;
    }
    match entry.vmid {
        Some(owner) => {
            auth::has(pve, who, &path, "Datastore.Audit")
                && auth::has(pve, who, &format!("/vms/{owner}"), "VM.Audit")
                || auth::has(pve, who, &path, "Datastore.AllocateSpace")
        }
        None => true,
    }
}

pub async fn content(
    State(sim): State<Arc<Sim>>,
    Path((node, id)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let content = p.take("content");
        let vmid = p.take_int("vmid", Some(100))?.map(|v| v as u32);
        p.reject_unknown(&[])?;
        if let Some(c) = &content {
            parse_content(c)?;
        }
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let st = readable_storage(&w.pve, &who, &id)?;
        volumes::activate(&w, st, &node).map_err(PveError::internal)?;
        let entries =
            volumes::list_content(&w, st, content.as_deref(), vmid).map_err(PveError::internal)?;
        Ok(Value::Array(
            entries
                .iter()
                .filter(|e| volume_visible(&w.pve, &who, &id, e))
                .map(|e| e.to_json())
                .collect(),
        ))
    })())
}

fn parse_volume_param(storage: &str, volume: &str) -> PveResult<VolumeId> {
    // The path segment may be a full volid or just the volname.
    let volid = if volume.contains(':') {
        volume.to_string()
    } else {
        format!("{storage}:{volume}")
    };
    let v = VolumeId::parse(&volid).map_err(PveError::internal)?;
    if v.storage != storage {
        return Err(PveError::internal(format!(
            "volume '{volid}' is not on storage '{storage}'"
        )));
    }
    Ok(v)
}

pub async fn volume_info(
    State(sim): State<Arc<Sim>>,
    Path((node, id, volume)): Path<(String, String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let v = parse_volume_param(&id, &volume)?;
        let st = readable_storage(&w.pve, &who, &id)?;
        volumes::activate(&w, st, &node).map_err(PveError::internal)?;
        let info = volumes::stat(&w, st, &v.relative_path())
            .map_err(PveError::internal)?
            .ok_or_else(|| PveError::internal(format!("volume '{v}' does not exist")))?;
        let format = match &v.kind {
            drive::VolumeKind::Image { format, .. } => format.as_str().to_string(),
            _ => "raw".into(),
        };
        Ok(json!({
            "path": format!("{}/{}", st.path, v.relative_path()),
            "size": info.size,
            "used": info.used,
            "format": format,
        }))
    })())
}

pub async fn volume_delete(
    State(sim): State<Arc<Sim>>,
    Path((node, id, volume)): Path<(String, String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        p.take("delay");
        p.reject_unknown(&[])?;
        let v = parse_volume_param(&id, &volume)?;
        let mut w = sim.world();
        check_node(&w.pve, &node)?;
        auth::check(
            &w.pve,
            &who,
            &format!("/storage/{id}"),
            &["Datastore.Allocate"],
        )?;
        let st = volumes::storage_config(&w, &id).map_err(PveError::internal)?;
        volumes::activate(&w, &st, &node).map_err(PveError::internal)?;
        if volumes::stat(&w, &st, &v.relative_path())
            .map_err(PveError::internal)?
            .is_none()
        {
            return Err(PveError::internal(format!("volume '{v}' does not exist")));
        }
        let upid = tasks::fork_worker(
            &sim,
            &mut w,
            TaskRequest {
                node: &node,
                kind: "imgdel",
                id: String::new(),
                user: &who.ident(),
                vmid: None,
                action: TaskAction::ImgDel {
                    volid: v.to_string(),
                },
                first_log: Vec::new(),
            },
        );
        drop(w);
        sim.persist();
        Ok(json!(upid))
    })())
}

/// `POST .../content`: allocate a new image (`vmid`, `filename`, `size`, `format`).
pub async fn volume_alloc(
    State(sim): State<Arc<Sim>>,
    Path((node, id)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let vmid = p
            .take_int("vmid", Some(100))?
            .ok_or_else(|| PveError::param("vmid", "property is missing and it is not optional"))?
            as u32;
        let filename = p.require("filename")?;
        let size = p.require("size")?;
        let format = p.take("format");
        p.reject_unknown(&[])?;
        let bytes = match size.as_bytes().last() {
            Some(b'M') => size[..size.len() - 1].parse::<u64>().ok().map(|n| n << 20),
            Some(b'G') => size[..size.len() - 1].parse::<u64>().ok().map(|n| n << 30),
            _ => size.parse::<u64>().ok().map(|n| n << 10),
        }
        .ok_or_else(|| PveError::param("size", "value does not match the regex pattern"))?;
        let (fmt, _) = drive::parse_image_filename(&filename).map_err(PveError::internal)?;
        if let Some(f) = &format {
            if f != fmt.as_str() {
                return Err(PveError::param(
                    "format",
                    format!("different storage formats ({f} != {})", fmt.as_str()),
                ));
            }
        }
        {
            let w = sim.world();
            check_node(&w.pve, &node)?;
            auth::check(
                &w.pve,
                &who,
                &format!("/storage/{id}"),
                &["Datastore.AllocateSpace"],
            )?;
        }
        let volid = sim
            .mutate(|w| volumes::alloc_named(w, &id, &node, vmid, &filename, bytes))
            .map_err(PveError::internal)?;
        sim.record_event("pve", "volume_alloc", volid.clone());
        Ok(json!(volid))
    })())
}
