//! VM configuration updates with qemu-server's semantics: the config key schema, parameter validation and
//! privileges, drive creation and attachment with volume ownership, and the `[PENDING]` section with its
//! hot-plug rules. Functions here run with the world locked and report failures as PVE's `die` texts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::auth::{self, Identity};
use super::drive::{self, is_drive_key, is_unused_key, Drive, DriveSource, VolumeKind};
use super::error::{PveError, PveResult};
use super::state::{Pve, Vm};
use super::tasks::Events;
use super::volumes;
use crate::world::World;

/// Options applied to a running VM right away (`$fast_plug_option` in qemu-server).
const FAST_PLUG: &[&str] = &[
    "description",
    "hookscript",
    "lock",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "protection",
    "shares",
    "startup",
    "tags",
    "vmstatestorage",
];

/// Plain (non-indexed) config keys of the qemu-server schema.
const PLAIN_KEYS: &[&str] = &[
    "acpi",
    "affinity",
    "agent",
    "allow-ksm",
    "amd-sev",
    "arch",
    "args",
    "audio0",
    "autostart",
    "balloon",
    "bios",
    "boot",
    "bootdisk",
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "cores",
    "cpu",
    "cpulimit",
    "cpuunits",
    "description",
    "efidisk0",
    "freeze",
    "hookscript",
    "hotplug",
    "hugepages",
    "ivshmem",
    "keephugepages",
    "keyboard",
    "kvm",
    "localtime",
    "lock",
    "machine",
    "memory",
    "meta",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "nameserver",
    "numa",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "rng0",
    "runningcpu",
    "runningmachine",
    "scsihw",
    "searchdomain",
    "shares",
    "smbios1",
    "smp",
    "sockets",
    "spice_enhancements",
    "sshkeys",
    "startdate",
    "startup",
    "tablet",
    "tags",
    "tdf",
    "template",
    "tpmstate0",
    "vcpus",
    "vga",
    "vmgenid",
    "vmstate",
    "vmstatestorage",
    "watchdog",
];

const INDEXED_KEYS: &[(&str, u32)] = &[
    ("net", 31),
    ("ipconfig", 31),
    ("hostpci", 15),
    ("serial", 3),
    ("parallel", 2),
    ("usb", 13),
    ("numa", 7),
    ("virtiofs", 9),
];

const BOOLEAN_KEYS: &[&str] = &[
    "acpi",
    "autostart",
    "freeze",
    "keephugepages",
    "kvm",
    "localtime",
    "numa",
    "onboot",
    "protection",
    "reboot",
    "tablet",
    "tdf",
    "template",
];
const INTEGER_KEYS: &[&str] = &[
    "balloon",
    "cores",
    "cpuunits",
    "migrate_speed",
    "shares",
    "sockets",
    "vcpus",
];

pub fn is_known_key(key: &str) -> bool {
    PLAIN_KEYS.contains(&key)
        || is_drive_key(key)
        || is_unused_key(key)
        || INDEXED_KEYS.iter().any(|(prefix, max)| {
            key.strip_prefix(prefix)
                .filter(|d| {
                    !d.is_empty()
                        && d.bytes().all(|b| b.is_ascii_digit())
                        && !(d.len() > 1 && d.starts_with('0'))
                })
                .and_then(|d| d.parse::<u32>().ok())
                .is_some_and(|i| i <= *max)
        })
}

/// The privilege PVE's `check_vm_modify_config_perm` demands for one key.
fn key_privilege(key: &str, value: Option<&str>) -> &'static str {
    if is_drive_key(key) {
        let cdrom = value
            .and_then(|v| Drive::parse(v).ok())
            .is_some_and(|d| d.is_cdrom());
        return if cdrom {
            "VM.Config.CDROM"
        } else {
            "VM.Config.Disk"
        };
    }
    if is_unused_key(key) || key == "vmstate" {
        return "VM.Config.Disk";
    }
    if key.starts_with("net") {
        return "VM.Config.Network";
    }
    if key.starts_with("ipconfig")
        || matches!(
            key,
            "cicustom"
                | "cipassword"
                | "citype"
                | "ciupgrade"
                | "ciuser"
                | "nameserver"
                | "searchdomain"
                | "sshkeys"
        )
    {
        return "VM.Config.Cloudinit";
    }
    match key {
        "memory" | "balloon" | "shares" => "VM.Config.Memory",
        "cores" | "sockets" | "cpu" | "vcpus" | "cpulimit" | "cpuunits" | "affinity" | "numa" => {
            "VM.Config.CPU"
        }
        "name" | "description" | "onboot" | "protection" | "tags" | "agent" | "ostype" | "boot"
        | "bootdisk" | "startup" | "hookscript" | "freeze" | "keyboard" | "localtime"
        | "reboot" | "tablet" | "acpi" | "kvm" | "vmstatestorage" | "migrate_downtime"
        | "migrate_speed" | "lock" | "template" | "startdate" => "VM.Config.Options",
        _ => "VM.Config.HWType",
    }
}

pub const VM_CONFIG_PRIVS: &[&str] = &[
    "VM.Config.Disk",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.HWType",
    "VM.Config.Options",
    "VM.Config.Cloudinit",
];

/// A validated `PUT/POST .../config` (or create) request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ConfigUpdate {
    pub set: BTreeMap<String, String>,
    pub delete: Vec<String>,
    pub revert: Vec<String>,
    pub force: bool,
    pub digest: Option<String>,
    pub skiplock: bool,
    /// The caller may pass absolute paths as drives (root@pam only).
    pub root: bool,
}

fn split_list(v: &str) -> Vec<String> {
    v.split([',', ';', ' ', '\t', '\0'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ConfigUpdate {
    /// Schema validation of the parameters (400 answers), before any lock is taken.
    pub fn parse(
        mut params: BTreeMap<String, String>,
        who: &Identity,
        for_create: bool,
    ) -> PveResult<ConfigUpdate> {
        let mut upd = ConfigUpdate {
            root: who.is_root(),
            ..Default::default()
        };
        let mut errors = BTreeMap::new();
        upd.digest = params.remove("digest");
        if let Some(d) = &upd.digest {
            if d.len() > 64 {
                errors.insert(
                    "digest".to_string(),
                    "value may only be 64 characters long".to_string(),
                );
            }
        }
        let flag = |params: &mut BTreeMap<String, String>,
                    key: &str,
                    errors: &mut BTreeMap<String, String>| {
            match params.remove(key).as_deref() {
                None | Some("0") => false,
                Some("1") => true,
                Some(other) => {
                    errors.insert(
                        key.to_string(),
                        format!("type check ('boolean') failed - got '{other}'"),
                    );
                    false
                }
            }
        };
        upd.skiplock = flag(&mut params, "skiplock", &mut errors);
        upd.force = flag(&mut params, "force", &mut errors);
        params.remove("background_delay");
        if upd.skiplock && !who.is_root() {
            errors.insert("skiplock".into(), "Only root may use this option.".into());
        }
        if !for_create {
            upd.delete = params
                .remove("delete")
                .map(|v| split_list(&v))
                .unwrap_or_default();
            upd.revert = params
                .remove("revert")
                .map(|v| split_list(&v))
                .unwrap_or_default();
        }
        if upd.force && upd.delete.is_empty() && !for_create {
            errors.insert(
                "force".into(),
                "missing property - 'force' requires this property: 'delete'".into(),
            );
        }
        if let Some(cdrom) = params.remove("cdrom") {
            let value = if cdrom.contains("media=") {
                cdrom
            } else {
                format!("{cdrom},media=cdrom")
            };
            params.insert("ide2".into(), value);
        }
        for (key, value) in params {
            if !is_known_key(&key) {
                errors.insert(key, "property is not defined in schema and the schema does not allow additional properties".into());
                continue;
            }
            let normalized = if is_drive_key(&key) {
                match Drive::parse(&value) {
                    Ok(d) => Ok(d.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            } else if is_unused_key(&key) {
                match Drive::parse(&value) {
                    Ok(d) if d.options.is_empty() => Ok(d.file),
                    Ok(_) => Err(
                        "invalid format - format error\nunused volumes take no options".to_string(),
                    ),
                    Err(e) => Err(e.to_string()),
                }
            } else if BOOLEAN_KEYS.contains(&key.as_str()) {
                match value.as_str() {
                    "0" | "1" => Ok(value),
                    _ => Err(format!("type check ('boolean') failed - got '{value}'")),
                }
            } else if INTEGER_KEYS.contains(&key.as_str()) {
                value
                    .parse::<i64>()
                    .map(|_| value.clone())
                    .map_err(|_| format!("type check ('integer') failed - got '{value}'"))
            } else if key == "memory" {
                let mib = value.strip_prefix("current=").unwrap_or(&value);
                match mib.parse::<u64>() {
                    Ok(m) if m >= 16 => Ok(value.clone()),
                    _ => Err(format!(
                        "invalid format - value '{value}' does not look like a valid memory size"
                    )),
                }
            } else if key == "name" {
                let ok = !value.is_empty()
                    && value.len() <= 63
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    && value.as_bytes()[0].is_ascii_alphanumeric();
                if ok {
                    Ok(value)
                } else {
                    Err(format!(
                        "value '{value}' does not look like a valid DNS name"
                    ))
                }
            } else {
                Ok(value)
            };
            match normalized {
                Ok(v) => {
                    upd.set.insert(key, v);
                }
                Err(e) => {
                    errors.insert(key, e);
                }
            }
        }
        for key in &upd.delete {
            if !is_known_key(key) {
                errors.insert(
                    "delete".into(),
                    format!("invalid format - invalid configuration ID '{key}'"),
                );
            } else if upd.set.contains_key(key) {
                errors.insert(
                    "delete".into(),
                    format!("you can't use '-{key}' and '-delete {key}' at the same time"),
                );
            }
        }
        for key in &upd.revert {
            if upd.set.contains_key(key) || upd.delete.contains(key) {
                errors.insert(
                    "revert".into(),
                    format!("you can't use '-{key}' and '-revert {key}' at the same time"),
                );
            }
        }
        if !errors.is_empty() {
            return Err(PveError::params(errors));
        }
        if !for_create && upd.set.is_empty() && upd.delete.is_empty() && upd.revert.is_empty() {
            return Err(PveError::internal("no options specified"));
        }
        Ok(upd)
    }

    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !self.delete.is_empty() {
            parts.push(format!("delete={}", self.delete.join(",")));
        }
        if !self.revert.is_empty() {
            parts.push(format!("revert={}", self.revert.join(",")));
        }
        parts.join(" ")
    }
}

/// The permission checks of `update_vm_api` / `create_vm` that run before the worker.
pub fn check_update_permissions(
    pve: &Pve,
    who: &Identity,
    vmid: u32,
    upd: &ConfigUpdate,
) -> PveResult<()> {
    let vm_path = format!("/vms/{vmid}");
    for key in &upd.delete {
        let current = pve
            .vms
            .get(&vmid)
            .and_then(|vm| vm.config.get(key))
            .map(String::as_str);
        auth::check(pve, who, &vm_path, &[key_privilege(key, current)])?;
        // `try_deallocate_drive`: destroying an owned unused volume also needs space rights on its storage.
        if let (true, Some(volid)) = (is_unused_key(key), current) {
            if let Ok(vol) = drive::VolumeId::parse(volid) {
                if vol.owner() == Some(vmid) {
                    let path = format!("/storage/{}", vol.storage);
                    auth::check(pve, who, &path, &["Datastore.AllocateSpace"])?;
                }
            }
        }
    }
    for (key, value) in &upd.set {
        auth::check(pve, who, &vm_path, &[key_privilege(key, Some(value))])?;
    }
    for (key, value) in &upd.set {
        let file = if is_unused_key(key) {
            value.clone()
        } else if is_drive_key(key) {
            Drive::parse(value).map(|d| d.file).unwrap_or_default()
        } else {
            continue;
        };
        match drive::classify_source(&file) {
            Ok(DriveSource::Allocate { storage, .. }) | Ok(DriveSource::CloudInit { storage }) => {
                auth::check(
                    pve,
                    who,
                    &format!("/storage/{storage}"),
                    &["Datastore.AllocateSpace"],
                )?;
            }
            Ok(DriveSource::Volume(vol)) => check_volume_access(pve, who, vmid, &vol)?,
            Ok(DriveSource::Path(_)) if !who.is_root() => {
                return Err(PveError::forbidden_text(
                    "Only root can pass arbitrary filesystem paths.",
                ));
            }
            Ok(DriveSource::HostCdrom) => auth::check(pve, who, "/", &["Sys.Console"])?,
            _ => {}
        }
    }
    Ok(())
}

/// pve-storage's `check_volume_access` for attaching a volume to `vmid`.
fn check_volume_access(
    pve: &Pve,
    who: &Identity,
    vmid: u32,
    vol: &drive::VolumeId,
) -> PveResult<()> {
    let sid_path = format!("/storage/{}", vol.storage);
    if auth::has(pve, who, &sid_path, "Datastore.Allocate") {
        return Ok(());
    }
    match &vol.kind {
        VolumeKind::Image { owner, .. } if *owner == vmid => Ok(()),
        VolumeKind::Image { owner, .. } => {
            auth::check(pve, who, &sid_path, &["Datastore.Audit"])?;
            auth::check(pve, who, &format!("/vms/{owner}"), &["VM.Config.Disk"])
        }
        _ => auth::check_any(
            pve,
            who,
            &sid_path,
            &["Datastore.AllocateSpace", "Datastore.Audit"],
        ),
    }
}

pub fn config_missing(node: &str, vmid: u32) -> String {
    format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
}

pub(super) fn vm_mut(world: &mut World, vmid: u32) -> Result<&mut Vm, String> {
    world.pve.vms.get_mut(&vmid).ok_or_else(|| {
        format!("Configuration file 'nodes/localhost/qemu-server/{vmid}.conf' does not exist")
    })
}

pub(super) fn check_lock(vm: &Vm) -> Result<(), String> {
    match vm.lock() {
        Some(lock) => Err(format!("VM is locked ({lock})")),
        None => Ok(()),
    }
}

pub(super) fn is_protected(vm: &Vm) -> bool {
    vm.config.get("protection").is_some_and(|p| p == "1")
}

/// Resolves a new drive value: allocates `<storage>:<size>`, checks and sizes existing volumes.
pub(super) fn create_disk(
    world: &mut World,
    node: &str,
    vmid: u32,
    key: &str,
    value: &str,
    current: Option<&str>,
) -> Result<String, String> {
    let mut d = Drive::parse(value).map_err(|e| e.to_string())?;
    match drive::classify_source(&d.file)? {
        DriveSource::None | DriveSource::HostCdrom | DriveSource::Path(_) => {}
        DriveSource::Allocate { storage, size_gib } => {
            let bytes = match key {
                "efidisk0" => 528 << 10,
                "tpmstate0" => 4 << 20,
                _ => (size_gib * (1u64 << 30) as f64) as u64,
            };
            let format = d
                .options
                .get("format")
                .and_then(|f| drive::ImageFormat::parse(f));
            let volid = volumes::alloc_disk(world, &storage, node, vmid, format, bytes)?;
            d.file = volid;
            d.options.remove("format");
            d.options.insert("size".into(), drive::format_size(bytes));
        }
        DriveSource::CloudInit { storage } => {
            let name = format!("vm-{vmid}-cloudinit.qcow2");
            let volid = format!("{storage}:{vmid}/{name}");
            let exists = drive::VolumeId::parse(&volid)
                .is_ok_and(|v| volumes::volume_size(world, &v).is_ok());
            if !exists {
                volumes::alloc_named(world, &storage, node, vmid, &name, 4 << 20)?;
            }
            d.file = volid;
            d.options.insert("media".into(), "cdrom".into());
        }
        DriveSource::Volume(vol) => {
            let vol = volumes::parse_attachable(&vol.to_string())?;
            if matches!(vol.kind, VolumeKind::Iso { .. }) && !d.is_cdrom() {
                return Err("explicit 'media=cdrom' is required for iso images".into());
            }
            let st = volumes::storage_config(world, &vol.storage)?;
            volumes::activate(world, &st, node)?;
            let is_new = current
                .and_then(|c| Drive::parse(c).ok())
                .is_none_or(|old| old.file != d.file);
            if is_new || d.size().is_none() {
                let size = volumes::volume_size(world, &vol)?;
                if let (Some(f), VolumeKind::Image { format, .. }) =
                    (d.options.get("format"), &vol.kind)
                {
                    if f != format.as_str() {
                        return Err(format!(
                            "drive '{key}' - volume '{vol}' - 'format={f}' option different from storage format '{}'",
                            format.as_str()
                        ));
                    }
                }
                d.options.insert("size".into(), drive::format_size(size));
            }
        }
    }
    Ok(d.to_string())
}

/// `update_vm_api`'s worker: digest and lock checks, deletes, writes to `[PENDING]`, then apply or hot-plug.
pub fn apply_update(
    world: &mut World,
    vmid: u32,
    upd: &ConfigUpdate,
    log: &mut Vec<String>,
    events: &mut Events,
) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    let node = vm.node.clone();
    if let Some(d) = &upd.digest {
        if *d != vm.digest() {
            return Err("checksum mismatch (file change by other user?)".into());
        }
    }
    let drops_vmstate = upd.delete.iter().any(|k| k == "vmstate");
    if !upd.skiplock {
        if drops_vmstate && vm.lock() == Some("suspended") {
            // Deleting the hibernation state is how PVE discards it; that also clears the lock.
        } else {
            check_lock(vm)?;
        }
    }
    for key in &upd.revert {
        vm.pending.remove(key);
        vm.pending_delete.remove(key);
    }
    let protected = is_protected(vm);

    for key in &upd.delete {
        let vm = vm_mut(world, vmid)?;
        // The value to delete, whether active or pending; deleting a pending value only drops that change.
        let Some(value) = vm.config.get(key).or(vm.pending.get(key)).cloned() else {
            log.push(format!(
                "cannot delete '{key}' - not set in current configuration!"
            ));
            continue;
        };
        let is_pending_value = vm.pending.remove(key).is_some();
        if is_unused_key(key) {
            let volid = Drive::parse(&value).map(|d| d.file).unwrap_or(value);
            if protected {
                return Err(format!(
                    "can't remove unused disk '{volid}' - protection mode enabled"
                ));
            }
            if volumes::is_owner(&volid, vmid) {
                let in_use = vm
                    .referenced_volumes()
                    .iter()
                    .any(|(k, v)| k != key && *v == volid);
                if in_use {
                    return Err(format!(
                        "unable to delete '{volid}' - volume is still in use (snapshot?)"
                    ));
                }
                volumes::free(world, &volid)?;
                events.push(("volume_delete".into(), format!("VM {vmid}: {volid}")));
            }
            vm_mut(world, vmid)?.config.remove(key);
        } else if key == "vmstate" {
            volumes::free(world, &value)?;
            let vm = vm_mut(world, vmid)?;
            for k in ["vmstate", "runningmachine", "runningcpu"] {
                vm.config.remove(k);
            }
            if vm.lock() == Some("suspended") {
                vm.config.remove("lock");
            }
        } else {
            if is_drive_key(key) && protected {
                return Err(format!(
                    "can't remove drive '{key}' - protection mode enabled"
                ));
            }
            if !is_pending_value {
                vm.pending_delete.insert(key.clone(), upd.force);
            }
        }
    }

    for (key, value) in &upd.set {
        let current = world
            .pve
            .vms
            .get(&vmid)
            .and_then(|vm| vm.pending.get(key).or(vm.config.get(key)).cloned());
        let value = if is_drive_key(key) {
            create_disk(world, &node, vmid, key, value, current.as_deref())?
        } else if is_unused_key(key) {
            let vol = volumes::parse_attachable(value)?;
            volumes::volume_size(world, &vol)?;
            value.clone()
        } else if key.starts_with("net") {
            with_mac(value)
        } else {
            value.clone()
        };
        let vm = vm_mut(world, vmid)?;
        vm.pending.insert(key.clone(), value);
        vm.pending_delete.remove(key);
    }

    let vm = vm_mut(world, vmid)?;
    cleanup_pending(vm);
    if vm.pending.is_empty() && vm.pending_delete.is_empty() {
        return Ok(());
    }
    if vm.is_running() {
        hotplug_pending(world, vmid)
    } else {
        apply_pending(world, vmid)
    }
}

/// Drops pending values equal to the active ones and pending deletions of keys that are not set.
fn cleanup_pending(vm: &mut Vm) {
    let config = vm.config.clone();
    vm.pending.retain(|k, v| config.get(k) != Some(v));
    vm.pending_delete.retain(|k, _| config.contains_key(k));
}

/// Applies one pending deletion (`vmconfig_delete_or_detach_drive` for drives).
fn apply_delete(world: &mut World, vmid: u32, key: &str, force: bool) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    vm.pending_delete.remove(key);
    let Some(old) = vm.config.remove(key) else {
        return Ok(());
    };
    if is_drive_key(key) {
        if let Ok(d) = Drive::parse(&old) {
            if !d.is_cdrom() && volumes::is_owner(&d.file, vmid) {
                if force {
                    volumes::free(world, &d.file)?;
                } else {
                    vm_mut(world, vmid)?.add_unused_volume(&d.file)?;
                }
            }
        }
    }
    Ok(())
}

/// Applies one pending value; a replaced owned disk becomes `unusedN`, an attached unused volume leaves `unusedN`.
fn apply_set(world: &mut World, vmid: u32, key: &str) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    let Some(value) = vm.pending.remove(key) else {
        return Ok(());
    };
    if is_drive_key(key) {
        let new_file = Drive::parse(&value).map(|d| d.file).unwrap_or_default();
        if let Some(old) = vm.config.get(key).and_then(|o| Drive::parse(o).ok()) {
            if old.file != new_file && !old.is_cdrom() && volumes::is_owner(&old.file, vmid) {
                vm.add_unused_volume(&old.file)?;
            }
        }
        vm.config
            .retain(|k, v| !(is_unused_key(k) && *v == new_file));
    }
    vm.config.insert(key.to_string(), value);
    Ok(())
}

/// `vmconfig_apply_pending`: a stopped VM (or a cold start) takes every pending change.
pub fn apply_pending(world: &mut World, vmid: u32) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    let deletes: Vec<(String, bool)> = vm
        .pending_delete
        .iter()
        .map(|(k, f)| (k.clone(), *f))
        .collect();
    let sets: Vec<String> = vm.pending.keys().cloned().collect();
    for (key, force) in deletes {
        apply_delete(world, vmid, &key, force)?;
    }
    for key in sets {
        apply_set(world, vmid, &key)?;
    }
    Ok(())
}

/// `parse_hotplug_features`: unset or `1` = network,disk,usb; `0` = nothing; else the listed features.
fn hotplug_features(vm: &Vm) -> Vec<String> {
    match vm.config.get("hotplug").map(String::as_str) {
        None | Some("1") => ["network", "disk", "usb"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some("0") | Some("") => Vec::new(),
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
    }
}

fn hot_pluggable(key: &str, value: Option<&str>, old: Option<&str>, features: &[String]) -> bool {
    let has = |f: &str| features.iter().any(|x| x == f);
    if FAST_PLUG.contains(&key) {
        return true;
    }
    if key.starts_with("net") {
        return has("network");
    }
    if is_drive_key(key) {
        let is_cdrom = |v: Option<&str>| {
            v.and_then(|v| Drive::parse(v).ok())
                .is_some_and(|d| d.is_cdrom())
        };
        if is_cdrom(value) || (value.is_none() && is_cdrom(old)) {
            // Media changes and ejects work on a running VM for any bus.
            return true;
        }
        return has("disk") && drive::is_hotpluggable_bus(key) && !is_cdrom(old);
    }
    false
}

/// `vmconfig_hotplug_pending`: applies what a running VM can take; the rest stays pending.
fn hotplug_pending(world: &mut World, vmid: u32) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    let features = hotplug_features(vm);
    let deletes: Vec<(String, bool)> = vm
        .pending_delete
        .iter()
        .filter(|(k, _)| hot_pluggable(k, None, vm.config.get(*k).map(String::as_str), &features))
        .map(|(k, f)| (k.clone(), *f))
        .collect();
    let sets: Vec<String> = vm
        .pending
        .iter()
        .filter(|(k, v)| {
            hot_pluggable(k, Some(v), vm.config.get(*k).map(String::as_str), &features)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for (key, force) in deletes {
        apply_delete(world, vmid, &key, force)?;
    }
    for key in sets {
        apply_set(world, vmid, &key)?;
    }
    Ok(())
}

fn random_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

/// Adds `<model>=<MAC>` to a `netN` value that names only the model, like `add_random_macs`.
pub(super) fn with_mac(value: &str) -> String {
    let mut parts: Vec<String> = value.split(',').map(str::to_string).collect();
    let models = [
        "e1000", "e1000e", "virtio", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er",
        "ne2k_isa", "ne2k_pci", "pcnet",
    ];
    if let Some(first) = parts.first_mut() {
        if models.contains(&first.as_str()) {
            *first = format!("{first}={}", random_mac());
        } else if let Some(model) = first.strip_prefix("model=") {
            *first = format!("{model}={}", random_mac());
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Identity {
        Identity {
            userid: "root@pam".into(),
            tokenid: None,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_keys() {
        for k in [
            "scsi0",
            "unused7",
            "net31",
            "ipconfig0",
            "memory",
            "agent",
            "vmstate",
            "hostpci15",
        ] {
            assert!(is_known_key(k), "{k}");
        }
        for k in ["net32", "scsi31", "bogus", "net01", "usb14"] {
            assert!(!is_known_key(k), "{k}");
        }
    }

    #[test]
    fn parse_normalizes_drives_and_the_cdrom_alias() {
        let upd = ConfigUpdate::parse(
            params(&[
                ("scsi1", "file=ONTAP01:100/vm-100-disk-1.raw,ssd=on"),
                ("cdrom", "none"),
            ]),
            &root(),
            false,
        )
        .unwrap();
        assert_eq!(upd.set["scsi1"], "ONTAP01:100/vm-100-disk-1.raw,ssd=1");
        assert_eq!(upd.set["ide2"], "none,media=cdrom");
    }

    #[test]
    fn parse_errors_are_parameter_errors() {
        let e = ConfigUpdate::parse(
            params(&[("unused0", "ONTAP01:100/x.raw,size=1G")]),
            &root(),
            false,
        )
        .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.errors.unwrap().contains_key("unused0"));
        let e = ConfigUpdate::parse(params(&[("delete", "bogus")]), &root(), false).unwrap_err();
        assert!(e.errors.unwrap()["delete"].contains("bogus"));
        let e = ConfigUpdate::parse(params(&[]), &root(), false).unwrap_err();
        assert_eq!(e.message, "no options specified");
        let token = Identity {
            userid: "root@pam".into(),
            tokenid: Some("ci".into()),
        };
        let e = ConfigUpdate::parse(params(&[("skiplock", "1"), ("name", "a")]), &token, false)
            .unwrap_err();
        assert_eq!(
            e.errors.unwrap()["skiplock"],
            "Only root may use this option."
        );
    }

    #[test]
    fn hotplug_rules() {
        let all: Vec<String> = ["network", "disk", "usb"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(hot_pluggable(
            "scsi3",
            Some("ONTAP01:100/a.raw"),
            None,
            &all
        ));
        assert!(!hot_pluggable(
            "scsi3",
            Some("ONTAP01:100/a.raw"),
            None,
            &[]
        ));
        assert!(!hot_pluggable(
            "ide1",
            Some("ONTAP01:100/a.raw"),
            None,
            &all
        ));
        assert!(hot_pluggable(
            "ide2",
            Some("none,media=cdrom"),
            Some("local:iso/a.iso,media=cdrom"),
            &all
        ));
        assert!(!hot_pluggable(
            "unused0",
            Some("ONTAP01:100/a.raw"),
            None,
            &all
        ));
        assert!(!hot_pluggable("memory", Some("8192"), Some("4096"), &all));
        assert!(hot_pluggable("name", Some("x"), None, &[]));
    }
}
