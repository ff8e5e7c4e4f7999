//! VM lifecycle work done by tasks when they end: power state machine (start, stop, pause, hibernate, resume),
//! create and destroy, with qemu-server's in-task checks and failure cleanup.

use std::collections::BTreeMap;

use super::drive::{is_drive_key, is_unused_key, Drive};
use super::scenario::PowerState;
use super::state::{now_secs, Vm};
use super::tasks::{Events, TaskAction};
use super::vm_config::{
    apply_pending, apply_update, check_lock, create_disk, is_known_key, is_protected, vm_mut,
    with_mac, ConfigUpdate,
};
use super::volumes;
use crate::world::World;

fn vm_events_detail(vmid: u32, what: &str) -> String {
    format!("VM {vmid}: {what}")
}

fn power_on(vm: &mut Vm) {
    vm.power = PowerState::Running;
    vm.started_at = Some(now_secs());
    vm.pid = Some(100_000 + vm.vmid + (now_secs() % 50_000) as u32);
    vm.frozen = false;
}

fn power_off(vm: &mut Vm) {
    vm.power = PowerState::Stopped;
    vm.started_at = None;
    vm.pid = None;
    vm.frozen = false;
}

/// Start from the hibernation state: the state volume is removed with `vmstate` and the lock.
fn resume_from_disk(
    world: &mut World,
    vmid: u32,
    log: &mut Vec<String>,
    events: &mut Events,
) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    let state = vm.config.get("vmstate").cloned();
    log.push(format!("Resuming suspended VM {vmid}"));
    power_on(vm);
    for k in ["vmstate", "runningmachine", "runningcpu", "lock"] {
        vm.config.remove(k);
    }
    if let Some(state) = state {
        if let Err(e) = volumes::free(world, &state) {
            log.push(format!(
                "WARN: could not remove vmstate volume '{state}': {e}"
            ));
        }
    }
    events.push((
        "resume".into(),
        vm_events_detail(vmid, "resumed from hibernation"),
    ));
    Ok(())
}

/// Runs the work of a task when it ends.
pub fn run_task(
    world: &mut World,
    action: &TaskAction,
    log: &mut Vec<String>,
    events: &mut Events,
) -> Result<(), String> {
    match action {
        TaskAction::Start { vmid, skiplock } => {
            let vm = vm_mut(world, *vmid)?;
            if vm.is_running() {
                return Err(format!("VM {vmid} already running"));
            }
            if vm.is_template() {
                return Err("you can't start a vm if it's a template".into());
            }
            if vm.lock() == Some("suspended") {
                return resume_from_disk(world, *vmid, log, events);
            }
            if !skiplock {
                check_lock(vm)?;
            }
            apply_pending(world, *vmid)?;
            let vm = vm_mut(world, *vmid)?;
            power_on(vm);
            events.push(("start".into(), vm_events_detail(*vmid, "started")));
            Ok(())
        }
        TaskAction::Stop { vmid, skiplock } | TaskAction::Shutdown { vmid, skiplock, .. } => {
            let vm = vm_mut(world, *vmid)?;
            // `_do_vm_stop` returns before the lock check when no QEMU process runs.
            if !vm.is_running() {
                return Ok(());
            }
            if !skiplock {
                check_lock(vm)?;
            }
            power_off(vm);
            let kind = if matches!(action, TaskAction::Stop { .. }) {
                "stop"
            } else {
                "shutdown"
            };
            events.push((kind.into(), vm_events_detail(*vmid, "stopped")));
            Ok(())
        }
        TaskAction::Reboot { vmid } => {
            let vm = vm_mut(world, *vmid)?;
            if !vm.is_running() {
                return Err(format!("VM {vmid} not running"));
            }
            check_lock(vm)?;
            apply_pending(world, *vmid)?;
            power_on(vm_mut(world, *vmid)?);
            events.push(("reboot".into(), vm_events_detail(*vmid, "rebooted")));
            Ok(())
        }
        TaskAction::Reset { vmid, skiplock } => {
            let vm = vm_mut(world, *vmid)?;
            if !skiplock {
                check_lock(vm)?;
            }
            vm.frozen = false;
            Ok(())
        }
        TaskAction::Pause { vmid, skiplock } => {
            let vm = vm_mut(world, *vmid)?;
            if !skiplock && vm.lock() != Some("backup") {
                check_lock(vm)?;
            }
            if !vm.is_running() {
                return Err(format!("VM {vmid} qmp command 'stop' failed - unable to connect to VM {vmid} qmp socket"));
            }
            vm.power = PowerState::Paused;
            events.push(("suspend".into(), vm_events_detail(*vmid, "paused")));
            Ok(())
        }
        TaskAction::Hibernate { vmid, .. } => {
            let vm = vm_mut(world, *vmid)?;
            if vm.lock() != Some("suspending") {
                return Err("lock changed unexpectedly".into());
            }
            log.push("State saved, quitting".into());
            power_off(vm);
            vm.config.insert("lock".into(), "suspended".into());
            events.push((
                "hibernate".into(),
                vm_events_detail(*vmid, "suspended to disk"),
            ));
            Ok(())
        }
        TaskAction::Resume {
            vmid,
            skiplock,
            from_disk,
        } => {
            if *from_disk {
                let vm = vm_mut(world, *vmid)?;
                if vm.lock() != Some("suspended") {
                    return Err(format!("VM {vmid} not running"));
                }
                return resume_from_disk(world, *vmid, log, events);
            }
            let vm = vm_mut(world, *vmid)?;
            if !vm.is_running() {
                return Err(format!("VM {vmid} not running"));
            }
            if !skiplock && vm.lock() != Some("backup") {
                check_lock(vm)?;
            }
            vm.power = PowerState::Running;
            events.push(("resume".into(), vm_events_detail(*vmid, "resumed")));
            Ok(())
        }
        TaskAction::Config { vmid, update } => {
            apply_update(world, *vmid, update, log, events)?;
            events.push(("config".into(), vm_events_detail(*vmid, &update.describe())));
            Ok(())
        }
        TaskAction::Create {
            vmid,
            node,
            update,
            start,
        } => {
            let result = create_vm(world, node, *vmid, update, log);
            if let Err(e) = result {
                cleanup_failed_create(world, *vmid);
                return Err(format!("unable to create VM {vmid} - {e}"));
            }
            events.push(("create".into(), vm_events_detail(*vmid, &update.describe())));
            if *start {
                let vm = vm_mut(world, *vmid)?;
                power_on(vm);
                events.push(("start".into(), vm_events_detail(*vmid, "started")));
            }
            Ok(())
        }
        TaskAction::Destroy {
            vmid,
            skiplock,
            destroy_unreferenced,
            ..
        } => {
            destroy_vm(world, *vmid, *skiplock, *destroy_unreferenced, log)?;
            events.push(("destroy".into(), vm_events_detail(*vmid, "destroyed")));
            Ok(())
        }
        TaskAction::Noop => Ok(()),
        TaskAction::ImgDel { volid } => {
            volumes::free(world, volid)?;
            events.push(("volume_delete".into(), volid.clone()));
            Ok(())
        }
    }
}

/// What a task leaves behind when it fails (injected failures included), like PVE's error paths.
pub fn task_failed_injected(world: &mut World, action: &TaskAction, events: &mut Events) {
    match action {
        TaskAction::Hibernate { vmid, .. } => {
            // vm_suspend's cleanup: the state volume and keys go, the `suspending` lock stays.
            let Some(vm) = world.pve.vms.get_mut(vmid) else {
                return;
            };
            let state = vm.config.remove("vmstate");
            vm.config.remove("runningmachine");
            vm.config.remove("runningcpu");
            if let Some(state) = state {
                let _ = volumes::free(world, &state);
            }
            events.push((
                "hibernate_failed".into(),
                vm_events_detail(*vmid, "suspend to disk failed"),
            ));
        }
        TaskAction::Create { vmid, .. } => cleanup_failed_create(world, *vmid),
        _ => {}
    }
}

fn cleanup_failed_create(world: &mut World, vmid: u32) {
    if let Some(vm) = world.pve.vms.remove(&vmid) {
        for (_, volid) in vm.referenced_volumes() {
            if volumes::is_owner(&volid, vmid) && !volid.contains("iso/") {
                let _ = volumes::free(world, &volid);
            }
        }
    }
}

/// `create_vm`'s worker for a VM without archive: disks are created or attached, then the config is written.
fn create_vm(
    world: &mut World,
    node: &str,
    vmid: u32,
    upd: &ConfigUpdate,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let mut config = BTreeMap::new();
    for (key, value) in &upd.set {
        let value = if is_drive_key(key) {
            let v = create_disk(world, node, vmid, key, value, None)?;
            // Record volumes as they are created so a later failure can clean them up.
            vm_mut(world, vmid)?.config.insert(key.clone(), v.clone());
            v
        } else if is_unused_key(key) {
            let vol = volumes::parse_attachable(value)?;
            volumes::volume_size(world, &vol)?;
            value.clone()
        } else if key.starts_with("net") {
            with_mac(value)
        } else {
            value.clone()
        };
        config.insert(key.clone(), value);
    }
    let uuid = uuid::Uuid::new_v4();
    config
        .entry("smbios1".into())
        .or_insert_with(|| format!("uuid={uuid}"));
    config
        .entry("vmgenid".into())
        .or_insert_with(|| uuid::Uuid::new_v4().to_string());
    config
        .entry("meta".into())
        .or_insert_with(|| format!("creation-qemu=8.1.5,ctime={}", now_secs()));
    if !config.contains_key("boot") {
        let mut order: Vec<&str> = config
            .iter()
            .filter(|(k, v)| is_drive_key(k) && Drive::parse(v).is_ok_and(|d| !d.is_cdrom()))
            .map(|(k, _)| k.as_str())
            .take(1)
            .collect();
        order.extend(
            config
                .iter()
                .filter(|(k, v)| is_drive_key(k) && Drive::parse(v).is_ok_and(|d| d.is_cdrom()))
                .map(|(k, _)| k.as_str()),
        );
        order.extend(
            config
                .keys()
                .filter(|k| k.starts_with("net") && is_known_key(k))
                .map(String::as_str),
        );
        if !order.is_empty() {
            let boot = format!("order={}", order.join(";"));
            config.insert("boot".into(), boot);
        }
    }
    let vm = vm_mut(world, vmid)?;
    vm.config = config;
    vm.node = node.to_string();
    log.push(format!("created VM {vmid}"));
    Ok(())
}

/// `destroy_vm`: owned volumes referenced by the config go, optionally unreferenced owned ones too.
fn destroy_vm(
    world: &mut World,
    vmid: u32,
    skiplock: bool,
    destroy_unreferenced: bool,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let vm = vm_mut(world, vmid)?;
    if is_protected(vm) {
        return Err(format!("can't remove VM {vmid} - protection mode enabled"));
    }
    if vm.is_running() {
        return Err(format!("VM {vmid} is running - destroy failed"));
    }
    if !skiplock {
        check_lock(vm)?;
    }
    let node = vm.node.clone();
    let mut volids: Vec<String> = vm
        .referenced_volumes()
        .into_iter()
        .filter(|(k, v)| {
            let cdrom = is_drive_key(k)
                && vm
                    .config
                    .get(k)
                    .or(vm.pending.get(k))
                    .and_then(|d| Drive::parse(d).ok())
                    .is_some_and(|d| d.is_cdrom() && !d.is_cloudinit());
            !cdrom && volumes::is_owner(v, vmid)
        })
        .map(|(_, v)| v)
        .collect();
    if destroy_unreferenced {
        volids.extend(volumes::owned_images(world, &node, vmid));
    }
    volids.sort();
    volids.dedup();
    for volid in volids {
        match volumes::free(world, &volid) {
            Ok(()) => log.push(format!("Removing image: 100% complete...done. ({volid})")),
            Err(e) => log.push(format!("WARN: could not remove {volid}: {e}")),
        }
    }
    world.pve.vms.remove(&vmid);
    Ok(())
}
