//! Volumes on storages: an NFS storage's files are the ONTAP volume behind `server:export`; a `dir` storage keeps
//! its own files in the PVE state. Implements what pve-storage's dir plugin does with them: list images, size
//! lookups, allocation with PVE's file names, and freeing.

use serde_json::{json, Value};

use super::drive::{self, parse_image_filename, ImageFormat, VolumeId, VolumeKind};
use super::state::{now_secs, DirFile, StorageConfig, StorageType};
use crate::world::World;

/// A file as the storage layer sees it.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub size: u64,
    pub used: u64,
    pub ctime: i64,
}

pub fn storage_config(world: &World, id: &str) -> Result<StorageConfig, String> {
    world
        .pve
        .storage(id)
        .cloned()
        .ok_or_else(|| format!("storage '{id}' does not exist"))
}

/// `activate_storage` on a node: the storage must be enabled there and, for NFS, `server:export` mountable.
pub fn activate(world: &World, st: &StorageConfig, node: &str) -> Result<(), String> {
    if st.disable {
        return Err(format!("storage '{}' is disabled", st.storage));
    }
    if !st.enabled_on(node) {
        return Err(format!(
            "storage '{}' is not available on node '{node}'",
            st.storage
        ));
    }
    if st.kind == StorageType::Nfs && nfs_target(world, st).is_none() {
        return Err(format!("storage '{}' is not online", st.storage));
    }
    Ok(())
}

fn nfs_target<'a>(world: &'a World, st: &StorageConfig) -> Option<&'a crate::ontap::state::Volume> {
    world.nfs_volume(st.server.as_deref()?, st.export.as_deref()?)
}

fn not_online(st: &StorageConfig) -> String {
    format!("storage '{}' is not online", st.storage)
}

pub fn stat(world: &World, st: &StorageConfig, rel: &str) -> Result<Option<FileInfo>, String> {
    match st.kind {
        StorageType::Nfs => {
            let vol = nfs_target(world, st).ok_or_else(|| not_online(st))?;
            Ok(vol.stat(rel).filter(|n| !n.is_dir()).map(|n| FileInfo {
                size: n.size,
                used: n.allocated(),
                ctime: n.created.timestamp(),
            }))
        }
        StorageType::Dir => Ok(world
            .pve
            .dir_files
            .get(&st.storage)
            .and_then(|files| files.get(rel))
            .map(|f| FileInfo {
                size: f.size,
                used: f.size,
                ctime: f.ctime,
            })),
    }
}

/// Names of files directly inside `rel_dir`, with their info.
fn list_files(
    world: &World,
    st: &StorageConfig,
    rel_dir: &str,
) -> Result<Vec<(String, FileInfo)>, String> {
    match st.kind {
        StorageType::Nfs => {
            let vol = nfs_target(world, st).ok_or_else(|| not_online(st))?;
            let Ok(entries) = vol.list_dir(rel_dir) else {
                return Ok(Vec::new());
            };
            Ok(entries
                .into_iter()
                .filter_map(|e| {
                    let n = vol.stat(&e.path)?;
                    Some((
                        e.name,
                        FileInfo {
                            size: n.size,
                            used: n.allocated(),
                            ctime: n.created.timestamp(),
                        },
                    ))
                })
                .collect())
        }
        StorageType::Dir => {
            let prefix = format!("{rel_dir}/");
            Ok(world
                .pve
                .dir_files
                .get(&st.storage)
                .map(|files| {
                    files
                        .iter()
                        .filter_map(|(p, f)| {
                            let name = p.strip_prefix(&prefix)?;
                            (!name.contains('/')).then(|| {
                                (
                                    name.to_string(),
                                    FileInfo {
                                        size: f.size,
                                        used: f.size,
                                        ctime: f.ctime,
                                    },
                                )
                            })
                        })
                        .collect()
                })
                .unwrap_or_default())
        }
    }
}

/// Sub-directories of `rel_dir` (only meaningful for image owner directories).
fn list_dirs(world: &World, st: &StorageConfig, rel_dir: &str) -> Result<Vec<String>, String> {
    match st.kind {
        StorageType::Nfs => {
            let vol = nfs_target(world, st).ok_or_else(|| not_online(st))?;
            Ok(vol
                .list_dir(rel_dir)
                .map(|entries| {
                    entries
                        .into_iter()
                        .filter(|e| vol.stat(&e.path).is_some_and(|n| n.is_dir()))
                        .map(|e| e.name)
                        .collect()
                })
                .unwrap_or_default())
        }
        StorageType::Dir => {
            let prefix = format!("{rel_dir}/");
            let mut dirs: Vec<String> = world
                .pve
                .dir_files
                .get(&st.storage)
                .map(|files| {
                    files
                        .keys()
                        .filter_map(|p| {
                            p.strip_prefix(&prefix)?
                                .split_once('/')
                                .map(|(d, _)| d.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            dirs.dedup();
            Ok(dirs)
        }
    }
}

/// Size of an existing volume; `volume <volid> does not exist` otherwise (qemu-server's text).
pub fn volume_size(world: &World, volid: &VolumeId) -> Result<u64, String> {
    let st = storage_config(world, &volid.storage)?;
    let supported = st.content.contains(volid.content())
        || (volid.content() == "images" && st.content.contains("rootdir"));
    if !supported {
        return Err(format!(
            "storage '{}' does not support content type '{}'",
            st.storage,
            volid.content()
        ));
    }
    match stat(world, &st, &volid.relative_path())? {
        Some(info) => Ok(info.size),
        None => Err(format!("volume {volid} does not exist")),
    }
}

pub fn create_file(
    world: &mut World,
    st: &StorageConfig,
    rel: &str,
    size: u64,
) -> Result<(), String> {
    match st.kind {
        StorageType::Nfs => {
            let (server, export) = (
                st.server.clone().unwrap_or_default(),
                st.export.clone().unwrap_or_default(),
            );
            let vol = world
                .nfs_volume_mut(&server, &export)
                .ok_or_else(|| not_online(st))?;
            vol.create_file(rel, size)
                .map_err(|e| format!("error creating '{}/{rel}': {e}", st.path))
        }
        StorageType::Dir => {
            let files = world.pve.dir_files.entry(st.storage.clone()).or_default();
            if files.contains_key(rel) {
                return Err(format!("disk image '{}/{rel}' already exists", st.path));
            }
            files.insert(
                rel.to_string(),
                DirFile {
                    size,
                    ctime: now_secs(),
                },
            );
            Ok(())
        }
    }
}

fn remove_file(world: &mut World, st: &StorageConfig, rel: &str) -> Result<(), String> {
    match st.kind {
        StorageType::Nfs => {
            let (server, export) = (
                st.server.clone().unwrap_or_default(),
                st.export.clone().unwrap_or_default(),
            );
            let vol = world
                .nfs_volume_mut(&server, &export)
                .ok_or_else(|| not_online(st))?;
            vol.remove_file(rel)
                .map_err(|e| format!("unlink '{}/{rel}' failed - {e}", st.path))
        }
        StorageType::Dir => {
            let files = world.pve.dir_files.entry(st.storage.clone()).or_default();
            files.remove(rel).map(|_| ()).ok_or_else(|| {
                format!(
                    "unlink '{}/{rel}' failed - No such file or directory",
                    st.path
                )
            })
        }
    }
}

/// `vdisk_free`: deletes the volume's file. A file that is already gone is only a warning in PVE's dir plugin.
pub fn free(world: &mut World, volid: &str) -> Result<(), String> {
    let vol = VolumeId::parse(volid)?;
    let st = storage_config(world, &vol.storage)?;
    let rel = vol.relative_path();
    if stat(world, &st, &rel)?.is_none() {
        tracing::warn!(volid, "disk image does not exist");
        return Ok(());
    }
    remove_file(world, &st, &rel)
}

/// `find_free_diskname` + `alloc_image`: `vm-<vmid>-disk-<N>.<fmt>` with the lowest free N.
pub fn alloc_disk(
    world: &mut World,
    storage: &str,
    node: &str,
    vmid: u32,
    format: Option<ImageFormat>,
    size: u64,
) -> Result<String, String> {
    let st = storage_config(world, storage)?;
    activate(world, &st, node)?;
    if !st.content.contains("images") {
        return Err(format!("storage '{storage}' does not support vm images"));
    }
    let fmt = format.unwrap_or_else(|| st.default_format());
    let existing: Vec<String> = list_files(world, &st, &format!("images/{vmid}"))?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let prefix = format!("vm-{vmid}-disk-");
    let n = (0..1024)
        .find(|i| {
            !existing.iter().any(|name| {
                name.strip_prefix(&prefix).and_then(|r| r.split('.').next()) == Some(&i.to_string())
            })
        })
        .ok_or_else(|| {
            format!("unable to allocate an image name for VM {vmid} in storage '{storage}'")
        })?;
    let name = format!("vm-{vmid}-disk-{n}.{}", fmt.as_str());
    create_file(world, &st, &format!("images/{vmid}/{name}"), size)?;
    Ok(format!("{storage}:{vmid}/{name}"))
}

/// Allocates a volume with a given file name (`vm-<vmid>-state-…`, `vm-<vmid>-cloudinit.qcow2`).
pub fn alloc_named(
    world: &mut World,
    storage: &str,
    node: &str,
    vmid: u32,
    name: &str,
    size: u64,
) -> Result<String, String> {
    let st = storage_config(world, storage)?;
    activate(world, &st, node)?;
    parse_image_filename(name)?;
    let rel = format!("images/{vmid}/{name}");
    if stat(world, &st, &rel)?.is_some() {
        return Err(format!("disk image '{}/{rel}' already exists", st.path));
    }
    create_file(world, &st, &rel, size)?;
    Ok(format!("{storage}:{vmid}/{name}"))
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone)]
pub struct ContentEntry {
    pub volid: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    pub used: Option<u64>,
    pub vmid: Option<u32>,
    pub ctime: i64,
    pub parent: Option<String>,
}

impl ContentEntry {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "volid": self.volid,
            "content": self.content,
            "format": self.format,
            "size": self.size,
            "ctime": self.ctime,
        });
        if let Some(u) = self.used {
            v["used"] = json!(u);
        }
        if let Some(id) = self.vmid {
            v["vmid"] = json!(id);
        }
        if let Some(p) = &self.parent {
            v["parent"] = json!(p);
        }
        v
    }
}

/// A live scan like the dir plugin's `list_images` plus the iso/vztmpl/backup scans, sorted by volid.
pub fn list_content(
    world: &World,
    st: &StorageConfig,
    content: Option<&str>,
    vmid: Option<u32>,
) -> Result<Vec<ContentEntry>, String> {
    let mut out = Vec::new();
    let wants = |c: &str| content.is_none_or(|x| x == c) && st.content.contains(c);
    if wants("images") {
        for dir in list_dirs(world, st, "images")? {
            let Ok(owner) = dir.parse::<u32>() else {
                continue;
            };
            if !dir.bytes().all(|b| b.is_ascii_digit()) || vmid.is_some_and(|v| v != owner) {
                continue;
            }
            for (name, info) in list_files(world, st, &format!("images/{dir}"))? {
                let Ok((format, _)) = parse_image_filename(&name) else {
                    continue;
                };
                if format == ImageFormat::Subvol {
                    continue;
                }
                out.push(ContentEntry {
                    volid: format!("{}:{dir}/{name}", st.storage),
                    content: "images".into(),
                    format: format.as_str().into(),
                    size: info.size,
                    used: Some(info.used),
                    vmid: Some(owner),
                    ctime: info.ctime,
                    parent: None,
                });
            }
        }
    }
    if vmid.is_none() {
        for (kind, dir) in [
            ("iso", "template/iso"),
            ("vztmpl", "template/cache"),
            ("backup", "dump"),
            ("snippets", "snippets"),
        ] {
            if !wants(kind) {
                continue;
            }
            for (name, info) in list_files(world, st, dir)? {
                let volname = format!("{kind}/{name}");
                let Ok(parsed) = VolumeId::parse(&format!("{}:{volname}", st.storage)) else {
                    continue;
                };
                let format = match &parsed.kind {
                    VolumeKind::Iso { .. } => "iso".to_string(),
                    VolumeKind::Vztmpl { file } | VolumeKind::Backup { file } => file
                        .rsplit_once('.')
                        .map(|(_, e)| e.to_string())
                        .unwrap_or_default(),
                    _ => "snippet".to_string(),
                };
                out.push(ContentEntry {
                    volid: format!("{}:{volname}", st.storage),
                    content: kind.into(),
                    format,
                    size: info.size,
                    used: None,
                    vmid: None,
                    ctime: info.ctime,
                    parent: None,
                });
            }
        }
    }
    out.sort_by_key(|e| e.volid.to_lowercase());
    Ok(out)
}

/// `(total, used, avail)` in bytes: the ONTAP volume's size and logical use for NFS.
pub fn capacity(world: &World, st: &StorageConfig) -> Option<(u64, u64, u64)> {
    match st.kind {
        StorageType::Nfs => {
            let vol = nfs_target(world, st)?;
            let used = vol.tree().logical_used().min(vol.size);
            Some((vol.size, used, vol.size - used))
        }
        StorageType::Dir => {
            let used: u64 = world
                .pve
                .dir_files
                .get(&st.storage)
                .map(|f| f.values().map(|x| x.size).sum())
                .unwrap_or(0);
            let used = used.min(st.capacity);
            Some((st.capacity, used, st.capacity - used))
        }
    }
}

/// Every image volume owned by `vmid` on the enabled storages of `node` (for `destroy-unreferenced-disks`).
pub fn owned_images(world: &World, node: &str, vmid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for st in world
        .pve
        .storages
        .iter()
        .filter(|s| s.enabled_on(node) && s.content.contains("images"))
    {
        if let Ok(entries) = list_content(world, st, Some("images"), Some(vmid)) {
            out.extend(entries.into_iter().map(|e| e.volid));
        }
    }
    out
}

/// Checks the name rules a volume id must pass before it can be attached to a VM.
pub fn parse_attachable(volid: &str) -> Result<VolumeId, String> {
    let v = VolumeId::parse(volid)?;
    match &v.kind {
        VolumeKind::Image { .. } | VolumeKind::Iso { .. } => Ok(v),
        _ => Err(format!(
            "volume '{volid}' has wrong type '{}' - needs images or iso",
            v.content()
        )),
    }
}

pub fn is_owner(volid: &str, vmid: u32) -> bool {
    drive::VolumeId::parse(volid).ok().and_then(|v| v.owner()) == Some(vmid)
}
