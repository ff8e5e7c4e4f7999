//! `/api/storage/volumes/{volume.uuid}/files[/{path}]`: file info and directory listings (GET), directory
//! creation (POST), file/directory deletion (DELETE, `recurse=true` for trees). `path` is one URL segment with
//! `/` encoded as `%2F` and `.` as `%2E`; plain slashes are accepted too.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::fs::{name_of, normalize, parent_of, FileTree, FsError, Node};
use super::query::{collection, QueryParams, Schema};
use super::state::Volume;
use crate::world::Sim;

pub const SCHEMA: Schema = Schema {
    keys: &["path", "name", "type"],
    default_fields: &[],
    expensive: &["analytics"],
    known: &[
        "path",
        "name",
        "type",
        "size",
        "bytes_used",
        "creation_time",
        "modified_time",
        "changed_time",
        "accessed_time",
        "unix_permissions",
        "owner_id",
        "group_id",
        "hard_links_count",
        "inode_number",
        "is_empty",
        "is_junction",
        "is_snapshot",
        "is_vm_aligned",
        "volume.name",
        "volume.uuid",
        "target",
        "analytics",
    ],
    sort_keys: &[],
};

const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

pub fn encode_path(p: &str) -> String {
    utf8_percent_encode(p, PATH_SEGMENT).to_string()
}

fn not_found(path: &str) -> OntapError {
    OntapError::new(
        404,
        codes::FILES_NO_SUCH_FILE,
        format!("No such file or directory: \"{path}\""),
    )
    .with_target("path")
}

fn volume_checked<'a>(w: &'a crate::world::World, uuid: &str) -> OntapResult<&'a Volume> {
    let v = w.ontap.volume(uuid).ok_or_else(|| {
        OntapError::new(
            404,
            codes::FILES_VOLUME_NOT_FOUND,
            format!("Volume \"{uuid}\" does not exist."),
        )
        .with_target("volume.uuid")
    })?;
    if !v.is_online() {
        return Err(OntapError::bad_request(
            codes::FILES_VOLUME_OFFLINE,
            format!("Volume \"{}\" is offline.", v.name),
        ));
    }
    Ok(v)
}

/// What a path names: a node of the active file system or of a snapshot, or a virtual directory.
enum Target<'a> {
    Dir {
        tree: Option<&'a FileTree>,
        inner: String,
        snapshot_root: bool,
    },
    File(&'a Node),
}

fn resolve<'a>(v: &'a Volume, path: &str) -> OntapResult<Target<'a>> {
    let p = normalize(path).map_err(|_| not_found(path))?;
    let (tree, inner) = if p == ".snapshot" {
        return Ok(Target::Dir {
            tree: None,
            inner: String::new(),
            snapshot_root: true,
        });
    } else if let Some(rest) = p.strip_prefix(".snapshot/") {
        let (snap, inner) = rest.split_once('/').unwrap_or((rest, ""));
        let s = v.snapshot_by_name(snap).ok_or_else(|| not_found(path))?;
        (&s.files, inner.to_string())
    } else {
        (&v.files, p.clone())
    };
    if inner.is_empty() || tree.is_dir(&inner) {
        return Ok(Target::Dir {
            tree: Some(tree),
            inner,
            snapshot_root: false,
        });
    }
    tree.get(&inner)
        .map(Target::File)
        .ok_or_else(|| not_found(path))
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn record(v: &Volume, dir: &str, name: &str, node: Option<&Node>, is_dir: bool) -> Value {
    let full = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    // `.` and `..` link to the directory itself and to its parent.
    let link_path = match name {
        "." => dir.to_string(),
        ".." => parent_of(dir).to_string(),
        _ => full,
    };
    let enc = encode_path(&link_path);
    let base = format!("/api/storage/volumes/{}/files/{enc}", v.uuid);
    let mut r = json!({
        "path": if dir.is_empty() { "/" } else { dir },
        "name": name,
        "type": if is_dir { "directory" } else { "file" },
        "volume": { "name": v.name, "uuid": v.uuid },
        "_links": { "self": { "href": base }, "metadata": { "href": format!("{base}?return_metadata=true") } },
    });
    let (size, perms, inode, created, modified) = match node {
        Some(n) => (n.size, n.unix_permissions, n.inode, n.created, n.modified),
        None => (4096, 0o755, 64, v.create_time, v.create_time),
    };
    r["size"] = json!(if is_dir { 4096 } else { size });
    r["bytes_used"] = json!(if is_dir {
        4096
    } else {
        node.map(Node::allocated).unwrap_or(0)
    });
    r["unix_permissions"] = json!(format!("{perms:o}").parse::<u64>().unwrap_or(755));
    r["inode_number"] = json!(inode);
    r["creation_time"] = json!(time(created));
    r["modified_time"] = json!(time(modified));
    r["changed_time"] = json!(time(modified));
    r["accessed_time"] = json!(time(modified));
    r["owner_id"] = json!(0);
    r["group_id"] = json!(0);
    r["hard_links_count"] = json!(if is_dir { 2 } else { 1 });
    r["is_junction"] = json!(false);
    r["is_snapshot"] = json!(false);
    r["is_vm_aligned"] = json!(false);
    r
}

fn listing(v: &Volume, path: &str) -> OntapResult<Vec<Value>> {
    let shown = normalize(path).map_err(|_| not_found(path))?;
    match resolve(v, path)? {
        Target::File(n) => Ok(vec![record(
            v,
            parent_of(&shown),
            name_of(&shown),
            Some(n),
            false,
        )]),
        Target::Dir {
            snapshot_root: true,
            ..
        } => {
            let mut out = vec![
                record(v, &shown, ".", None, true),
                record(v, &shown, "..", None, true),
            ];
            for s in &v.snapshots {
                let mut r = record(v, &shown, &s.name, None, true);
                r["is_snapshot"] = json!(true);
                out.push(r);
            }
            Ok(out)
        }
        Target::Dir {
            tree: Some(tree),
            inner,
            ..
        } => {
            let mut out = vec![
                record(v, &shown, ".", tree.get(&inner), true),
                record(v, &shown, "..", tree.get(parent_of(&inner)), true),
            ];
            for (p, n) in tree.children(&inner) {
                let mut r = record(v, &shown, name_of(p), Some(n), n.is_dir());
                if n.is_dir() {
                    r["is_empty"] = json!(tree.children(p).next().is_none());
                }
                out.push(r);
            }
            Ok(out)
        }
        Target::Dir { tree: None, .. } => Err(not_found(path)),
    }
}

fn metadata(v: &Volume, path: &str) -> OntapResult<Vec<Value>> {
    let shown = normalize(path).map_err(|_| not_found(path))?;
    let r = match resolve(v, path)? {
        Target::File(n) => record(v, parent_of(&shown), name_of(&shown), Some(n), false),
        Target::Dir { tree, inner, .. } => {
            let node = tree.and_then(|t| t.get(&inner));
            let mut r = record(
                v,
                parent_of(&shown),
                if shown.is_empty() {
                    "."
                } else {
                    name_of(&shown)
                },
                node,
                true,
            );
            r["is_empty"] = json!(tree.is_none_or(|t| t.children(&inner).next().is_none()));
            r
        }
    };
    Ok(vec![r])
}

async fn get_impl(
    sim: Arc<Sim>,
    uuid: String,
    path: String,
    raw: Option<String>,
) -> Result<Json<Value>, OntapError> {
    let mut q = QueryParams::parse(raw.as_deref());
    let return_metadata = q.bool("return_metadata")?.unwrap_or(false);
    // With return_metadata the record is the object's metadata: all its (non-analytics) attributes.
    if return_metadata && q.get("fields").is_none() {
        q.0.push(("fields".into(), "*".into()));
    }
    let records = sim.read(|w| {
        let v = volume_checked(w, &uuid)?;
        if return_metadata {
            metadata(v, &path)
        } else {
            listing(v, &path)
        }
    })?;
    let href = format!("/api/storage/volumes/{uuid}/files/{}", encode_path(&path));
    collection(
        &href,
        &q,
        &SCHEMA,
        records,
        &["return_metadata", "byte_offset", "length"],
    )
    .map(Json)
}

pub async fn get_root(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    get_impl(sim, uuid, String::new(), raw).await
}

pub async fn get_path(
    State(sim): State<Arc<Sim>>,
    Path((uuid, path)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    get_impl(sim, uuid, path, raw).await
}

fn fs_error(e: FsError, path: &str) -> OntapError {
    match e {
        FsError::Exists => {
            OntapError::new(409, codes::FILES_EXISTS, "File exists").with_target("path")
        }
        FsError::NotFound | FsError::NotADirectory | FsError::InvalidPath => not_found(path),
        FsError::NotEmpty => OntapError::bad_request(codes::FILES_NOT_EMPTY, "Directory not empty")
            .with_target("path"),
        FsError::IsADirectory => {
            OntapError::bad_request(codes::INVALID_FIELD, "Is a directory").with_target("path")
        }
    }
}

/// Creates a directory: `{"type": "directory", "unix_permissions": "755"}`; the parent must exist.
pub async fn post(
    State(sim): State<Arc<Sim>>,
    Path((uuid, path)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_records", "return_timeout"], None)?;
    let b = body.0;
    super::body::check_fields(&b, &["type", "unix_permissions", "target", "data"])?;
    let kind = b.get("type").and_then(Value::as_str).ok_or_else(|| {
        OntapError::bad_request(
            codes::FILES_NO_TYPE,
            "The \"type\" field must be specified.",
        )
        .with_target("type")
    })?;
    if kind != "directory" {
        return Err(OntapError::bad_request(
            codes::NOT_SUPPORTED,
            format!("Creating objects of type \"{kind}\" is not supported by the simulator; only \"directory\"."),
        )
        .with_target("type"));
    }
    let perms = match b.get("unix_permissions") {
        None => {
            return Err(OntapError::bad_request(
                codes::FILES_NO_PERMISSIONS,
                "The \"unix_permissions\" field must be specified.",
            )
            .with_target("unix_permissions"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(OntapError::invalid_value(
                "unix_permissions",
                &other.to_string(),
            ))
        }
    };
    let mode = u32::from_str_radix(&perms, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| OntapError::invalid_value("unix_permissions", &perms))?;
    sim.mutate(|w| -> OntapResult<()> {
        volume_checked(w, &uuid)?;
        let p = normalize(&path).map_err(|_| not_found(&path))?;
        if p.starts_with(".snapshot") {
            return Err(OntapError::bad_request("131102", "Read-only file system"));
        }
        let v = w.ontap.volume_mut(&uuid).expect("checked");
        v.files.mkdir(&p, mode).map_err(|e| fs_error(e, &path))
    })?;
    Ok((StatusCode::CREATED, Json(json!({}))).into_response())
}

/// Deletes a file or an empty directory; `recurse=true` deletes a whole tree.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path((uuid, path)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["recurse", "return_timeout", "throttle_deletion"], None)?;
    let recurse = q.bool("recurse")?.unwrap_or(false);
    sim.mutate(|w| -> OntapResult<()> {
        volume_checked(w, &uuid)?;
        let p = normalize(&path).map_err(|_| not_found(&path))?;
        if p.is_empty() {
            return Err(OntapError::bad_request(
                codes::INVALID_FIELD,
                "The volume root cannot be deleted.",
            )
            .with_target("path"));
        }
        if p.starts_with(".snapshot") {
            return Err(OntapError::bad_request("131102", "Read-only file system"));
        }
        let v = w.ontap.volume_mut(&uuid).expect("checked");
        if recurse {
            v.files.remove_recursive(&p)
        } else {
            v.files.remove(&p)
        }
        .map_err(|e| fs_error(e, &path))
    })?;
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}
