//! `/nodes/{node}/qemu/...`: VM list, create, destroy, config, pending, status and power, guest agent.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::api::{check_node, dir_index, find_vm, parse_vmid, respond, Call};
use super::auth::{self, Identity};
use super::drive::{is_drive_key, Drive};
use super::error::{PveError, PveResult};
use super::params::Params;
use super::scenario::PowerState;
use super::state::{now_ms, now_secs, Vm};
use super::tasks::{self, TaskAction, TaskRequest};
use super::vm_config::{self as ops, ConfigUpdate};
use super::volumes;
use crate::world::{Sim, World};

fn vm_path(vmid: u32) -> String {
    format!("/vms/{vmid}")
}

pub async fn list(State(sim): State<Arc<Sim>>, Path(node): Path<String>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        p.take_bool("full")?;
        p.reject_unknown(&[])?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let now = now_secs();
        let out: Vec<Value> = w
            .pve
            .vms
            .values()
            .filter(|vm| vm.node == node)
            .filter(|vm| auth::has(&w.pve, &who, &vm_path(vm.vmid), "VM.Audit"))
            .map(|vm| vm_status_json(vm, now))
            .collect();
        Ok(Value::Array(out))
    })())
}

/// What the VM list and `status/current` both report of a VM (qemu-server's `vmstatus`).
fn vm_status_json(vm: &Vm, now: i64) -> Value {
    let running = vm.is_running();
    let mut v = json!({
        "vmid": vm.vmid,
        "name": vm.name(),
        "status": vm.status(),
        "cpus": vm.cpus(),
        "maxmem": vm.memory_bytes(),
        "mem": if running { vm.memory_bytes() / 2 } else { 0 },
        "maxdisk": vm.maxdisk(),
        "disk": 0,
        "uptime": vm.uptime(now),
        "cpu": if running { 0.012 } else { 0.0 },
        "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    });
    if let Some(pid) = vm.pid.filter(|_| running) {
        v["pid"] = json!(pid);
    }
    if let Some(l) = vm.lock() {
        v["lock"] = json!(l);
    }
    if let Some(t) = vm.config.get("tags") {
        v["tags"] = json!(t);
    }
    if vm.is_template() {
        v["template"] = json!(1);
    }
    v
}

/// [`read_vm`] for a read without parameters of its own.
fn read_vm_only(
    sim: &Arc<Sim>,
    call: &Call,
    node: &str,
    vmid: &str,
    read: impl FnOnce(&Vm) -> PveResult<Value>,
) -> Response {
    read_vm(sim, call, node, vmid, |_| Ok(()), |vm, ()| read(vm))
}

/// A read of one VM: authenticates, validates the vmid, lets `params` take the handler's own parameters
/// (unknown ones are refused), finds the VM on `node` and requires VM.Audit on it — in PVE's order.
fn read_vm<P>(
    sim: &Arc<Sim>,
    call: &Call,
    node: &str,
    vmid: &str,
    params: impl FnOnce(&mut Params) -> PveResult<P>,
    read: impl FnOnce(&Vm, P) -> PveResult<Value>,
) -> Response {
    respond((|| {
        let who = call.begin(sim)?;
        let vmid = parse_vmid(vmid)?;
        let mut p = call.params();
        let own = params(&mut p)?;
        p.reject_unknown(&[])?;
        let w = sim.world();
        let vm = find_vm(&w.pve, node, vmid)?;
        auth::check(&w.pve, &who, &vm_path(vmid), &["VM.Audit"])?;
        read(vm, own)
    })())
}

pub async fn index(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        call.begin(&sim)?;
        let vmid = parse_vmid(&vmid)?;
        let w = sim.world();
        find_vm(&w.pve, &node, vmid)?;
        let dirs = [
            "config",
            "pending",
            "status",
            "agent",
            "unlink",
            "vncproxy",
            "migrate",
            "resize",
            "move",
            "rrd",
            "rrddata",
            "monitor",
            "snapshot",
            "spiceproxy",
            "sendkey",
            "firewall",
        ];
        Ok(dir_index("subdir", &dirs))
    })())
}

pub async fn create(State(sim): State<Arc<Sim>>, Path(node): Path<String>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let raw_vmid = p.require("vmid")?;
        let vmid = parse_vmid(&raw_vmid)?;
        let start = p.take_bool("start")?.unwrap_or(false);
        if p.take("archive").is_some() {
            return Err(PveError::internal(
                "restoring from an archive is not supported by this simulator",
            ));
        }
        let storage = p.take("storage");
        p.take("pool");
        p.take_bool("unique")?;
        p.take_bool("force")?;
        p.take("bwlimit");
        p.take_bool("live-restore")?;
        let mut params = p.into_map();
        if let Some(st) = &storage {
            // `storage` supplies the storage for drives given as a bare size.
            for (k, v) in params.iter_mut() {
                if is_drive_key(k) {
                    let first = v.split(',').next().unwrap_or("");
                    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                        *v = format!("{st}:{v}");
                    }
                }
            }
        }
        let upd = ConfigUpdate::parse(params, &who, true)?;
        let mut w = sim.world();
        check_node(&w.pve, &node)?;
        auth::check(&w.pve, &who, &vm_path(vmid), &["VM.Allocate"])?;
        ops::check_update_permissions(&w.pve, &who, vmid, &upd)?;
        if start {
            auth::check(&w.pve, &who, &vm_path(vmid), &["VM.PowerMgmt"])?;
        }
        if let Some(existing) = w.pve.vms.get(&vmid) {
            return Err(PveError::internal(format!(
                "VM {vmid} already exists on node '{}'",
                existing.node
            )));
        }
        let mut placeholder = empty_vm(vmid, &node);
        placeholder.config.insert("lock".into(), "create".into());
        w.pve.vms.insert(vmid, placeholder);
        let upid = tasks::fork_worker(
            &sim,
            &mut w,
            TaskRequest {
                node: &node,
                kind: "qmcreate",
                id: vmid.to_string(),
                user: &who.ident(),
                vmid: Some(vmid),
                action: TaskAction::Create {
                    vmid,
                    node: node.clone(),
                    update: upd,
                    start,
                },
                first_log: Vec::new(),
            },
        );
        drop(w);
        sim.persist();
        Ok(json!(upid))
    })())
}

fn empty_vm(vmid: u32, node: &str) -> Vm {
    Vm {
        vmid,
        node: node.to_string(),
        config: Default::default(),
        pending: Default::default(),
        pending_delete: Default::default(),
        power: PowerState::Stopped,
        agent_running: true,
        freeze_error: None,
        frozen: false,
        started_at: None,
        pid: None,
    }
}

pub async fn destroy(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let vmid = parse_vmid(&vmid)?;
        let mut p = call.params();
        let skiplock = p.take_bool("skiplock")?.unwrap_or(false);
        let purge = p.take_bool("purge")?.unwrap_or(false);
        let unref = p.take_bool("destroy-unreferenced-disks")?.unwrap_or(false);
        p.reject_unknown(&[])?;
        if skiplock && !who.is_root() {
            return Err(PveError::param(
                "skiplock",
                "Only root may use this option.",
            ));
        }
        let mut w = sim.world();
        let vm = find_vm(&w.pve, &node, vmid)?;
        auth::check(&w.pve, &who, &vm_path(vmid), &["VM.Allocate"])?;
        if vm.config.get("protection").is_some_and(|v| v == "1") {
            return Err(PveError::internal(format!(
                "can't remove VM {vmid} - protection mode enabled"
            )));
        }
        let upid = fork(
            &sim,
            &mut w,
            &node,
            "qmdestroy",
            vmid,
            &who,
            TaskAction::Destroy {
                vmid,
                skiplock,
                purge,
                destroy_unreferenced: unref,
            },
        );
        drop(w);
        sim.persist();
        Ok(json!(upid))
    })())
}

fn fork(
    sim: &Arc<Sim>,
    w: &mut World,
    node: &str,
    kind: &str,
    vmid: u32,
    who: &Identity,
    action: TaskAction,
) -> String {
    tasks::fork_worker(
        sim,
        w,
        TaskRequest {
            node,
            kind,
            id: vmid.to_string(),
            user: &who.ident(),
            vmid: Some(vmid),
            action,
            first_log: Vec::new(),
        },
    )
}

pub async fn config_get(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    let params =
        |p: &mut Params| Ok((p.take_bool("current")?.unwrap_or(false), p.take("snapshot")));
    read_vm(
        &sim,
        &call,
        &node,
        &vmid,
        params,
        |vm, (current, snapshot)| {
            if let Some(snap) = snapshot {
                if current {
                    return Err(PveError::param(
                        "snapshot",
                        "cannot use 'snapshot' parameter with 'current'",
                    ));
                }
                return Err(PveError::internal(format!(
                    "snapshot '{snap}' does not exist"
                )));
            }
            Ok(vm.config_json(current))
        },
    )
}

pub async fn pending_get(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    read_vm_only(&sim, &call, &node, &vmid, |vm| Ok(vm.pending_json()))
}

/// Validation and permission checks of `update_vm_api` that run before the worker or the lock.
fn prepare_update(
    sim: &Arc<Sim>,
    call: &Call,
    node: &str,
    vmid: &str,
) -> PveResult<(Identity, u32, ConfigUpdate, Option<u64>)> {
    let who = call.begin(sim)?;
    let vmid = parse_vmid(vmid)?;
    let mut params = call.params().into_map();
    let background_delay = match params.get("background_delay") {
        Some(v) => match v.parse::<u64>() {
            Ok(d) if (1..=30).contains(&d) => Some(d),
            _ => {
                return Err(PveError::param(
                    "background_delay",
                    "value must have a minimum value of 1 and a maximum of 30",
                ))
            }
        },
        None => None,
    };
    params.remove("background_delay");
    let upd = ConfigUpdate::parse(params, &who, false)?;
    let w = sim.world();
    find_vm(&w.pve, node, vmid)?;
    auth::check_any(&w.pve, &who, &vm_path(vmid), ops::VM_CONFIG_PRIVS)?;
    ops::check_update_permissions(&w.pve, &who, vmid, &upd)?;
    Ok((who, vmid, upd, background_delay))
}

fn has_running_task(w: &World, vmid: u32) -> bool {
    w.pve
        .tasks
        .iter()
        .any(|t| t.running && t.vmid == Some(vmid))
}

/// Polls the world every 10 ms, tasks brought up to date first, until `check` yields a value; `None` once the
/// `deadline` (ms) has passed.
async fn poll_until<T>(
    sim: &Arc<Sim>,
    deadline: i64,
    check: impl Fn(&World) -> Option<T>,
) -> Option<T> {
    loop {
        tasks::advance(sim);
        if let Some(v) = sim.read(&check) {
            return Some(v);
        }
        if now_ms() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn config_put(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond(update_now(&sim, &call, &node, &vmid).await)
}

/// `PUT .../config`: a running task holds the VM's config flock; the writer waits for it up to PVE's 10 s.
async fn update_now(sim: &Arc<Sim>, call: &Call, node: &str, vmid: &str) -> PveResult<Value> {
    let (_who, vmid, upd, _) = prepare_update(sim, call, node, vmid)?;
    let deadline = now_ms() + sim.timings().pve.config_lock_wait_ms as i64;
    let unlocked = |w: &World| (!has_running_task(w, vmid)).then_some(());
    if poll_until(sim, deadline, unlocked).await.is_none() {
        return Err(PveError::internal(format!(
            "can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"
        )));
    }
    let mut log = Vec::new();
    let mut events = Vec::new();
    let result = sim.mutate(|w| {
        if w.pve.vms.get(&vmid).is_none_or(|vm| vm.node != node) {
            return Err(ops::config_missing(node, vmid));
        }
        ops::apply_update(w, vmid, &upd, &mut log, &mut events)
    });
    for (k, d) in events {
        sim.record_event("pve", &k, d);
    }
    result.map_err(PveError::internal)?;
    sim.record_event("pve", "config", format!("VM {vmid}: {}", upd.describe()));
    Ok(Value::Null)
}

pub async fn config_post(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond(update_in_task(&sim, &call, &node, &vmid).await)
}

/// `POST .../config`: the change runs as a `qmconfig` task. With `background_delay` PVE waits for the worker
/// and answers null (or its error) when it ends in time, else the UPID.
async fn update_in_task(sim: &Arc<Sim>, call: &Call, node: &str, vmid: &str) -> PveResult<Value> {
    let (who, vmid, upd, background_delay) = prepare_update(sim, call, node, vmid)?;
    let upid = {
        let mut w = sim.world();
        fork(
            sim,
            &mut w,
            node,
            "qmconfig",
            vmid,
            &who,
            TaskAction::Config { vmid, update: upd },
        )
    };
    sim.persist();
    let Some(delay) = background_delay else {
        return Ok(json!(upid));
    };
    let deadline = now_ms() + delay as i64 * 1000;
    let ended = |w: &World| {
        w.pve
            .tasks
            .iter()
            .find(|t| t.upid == upid && !t.running)
            .map(|t| t.exitstatus.clone())
    };
    match poll_until(sim, deadline, ended).await {
        Some(Some(exit)) if exit == "OK" => Ok(Value::Null),
        Some(Some(exit)) => Err(PveError::internal(exit)),
        _ => Ok(json!(upid)),
    }
}

pub async fn status_index(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        call.begin(&sim)?;
        let vmid = parse_vmid(&vmid)?;
        find_vm(&sim.world().pve, &node, vmid)?;
        let cmds = [
            "current", "start", "stop", "reset", "shutdown", "suspend", "reboot", "resume",
        ];
        Ok(dir_index("subdir", &cmds))
    })())
}

pub async fn status_current(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    call: Call,
) -> Response {
    read_vm_only(&sim, &call, &node, &vmid, |vm| {
        let mut v = vm_status_json(vm, now_secs());
        v["qmpstatus"] = json!(vm.qmpstatus());
        v["ha"] = json!({ "managed": 0 });
        if vm.is_running() {
            v["running-machine"] = json!("pc-i440fx-8.1+pve0");
            v["running-qemu"] = json!("8.1.5");
        }
        if vm.agent_enabled() {
            v["agent"] = json!(1);
        }
        Ok(v)
    })
}

/// `find_vmstate_storage`: `vmstatestorage`, else the first disk's storage (shared preferred), else `local`.
fn vmstate_storage(w: &World, vm: &Vm) -> String {
    if let Some(s) = vm.config.get("vmstatestorage") {
        return s.clone();
    }
    let mut target: Option<String> = None;
    for (k, v) in &vm.config {
        if !is_drive_key(k) {
            continue;
        }
        let Ok(d) = Drive::parse(v) else { continue };
        if d.is_cdrom() {
            continue;
        }
        let Some((sid, _)) = d.file.split_once(':') else {
            continue;
        };
        if w.pve.storage(sid).is_some_and(|s| s.shared) {
            return sid.to_string();
        }
        target.get_or_insert_with(|| sid.to_string());
    }
    target.unwrap_or_else(|| "local".to_string())
}

pub async fn status_action(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid, action)): Path<(String, String, String)>,
    call: Call,
) -> Response {
    let result = status_action_inner(&sim, &node, &vmid, &action, call);
    if result.is_ok() {
        sim.persist();
    }
    respond(result)
}

fn status_action_inner(
    sim: &Arc<Sim>,
    node: &str,
    vmid: &str,
    action: &str,
    call: Call,
) -> PveResult<Value> {
    if ![
        "start", "stop", "shutdown", "reboot", "reset", "suspend", "resume",
    ]
    .contains(&action)
    {
        return Err(PveError::not_implemented("POST", &call.path));
    }
    let who = call.begin(sim)?;
    let vmid = parse_vmid(vmid)?;
    let mut p = call.params();
    let skiplock = p.take_bool("skiplock")?.unwrap_or(false);
    if skiplock && !who.is_root() {
        return Err(PveError::param(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    let mut w = sim.world();
    let vm = find_vm(&w.pve, node, vmid)?.clone();
    auth::check(&w.pve, &who, &vm_path(vmid), &["VM.PowerMgmt"])?;
    let (kind, task) = match action {
        "start" => {
            for k in [
                "timeout",
                "machine",
                "force-cpu",
                "stateuri",
                "migratedfrom",
                "migration_type",
                "migration_network",
                "targetstorage",
            ] {
                p.take(k);
            }
            p.reject_unknown(&[])?;
            ("qmstart", TaskAction::Start { vmid, skiplock })
        }
        "stop" => {
            p.take_int("timeout", Some(0))?;
            p.take_bool("keepActive")?;
            p.take_bool("overrule-shutdown")?;
            p.take("migratedfrom");
            p.reject_unknown(&[])?;
            ("qmstop", TaskAction::Stop { vmid, skiplock })
        }
        "shutdown" => {
            p.take_int("timeout", Some(0))?;
            let force_stop = p.take_bool("forceStop")?.unwrap_or(false);
            p.take_bool("keepActive")?;
            p.reject_unknown(&[])?;
            if vm.power == PowerState::Paused && !force_stop {
                return Err(PveError::internal("VM is paused - cannot shutdown"));
            }
            (
                "qmshutdown",
                TaskAction::Shutdown {
                    vmid,
                    force_stop,
                    skiplock,
                },
            )
        }
        "reboot" => {
            p.take_int("timeout", Some(0))?;
            p.reject_unknown(&[])?;
            if vm.power == PowerState::Paused {
                return Err(PveError::internal("VM is paused - cannot shutdown"));
            }
            if !vm.is_running() {
                return Err(PveError::internal(format!("VM {vmid} not running")));
            }
            ("qmreboot", TaskAction::Reboot { vmid })
        }
        "reset" => {
            p.reject_unknown(&[])?;
            if !vm.is_running() {
                return Err(PveError::internal(format!("VM {vmid} not running")));
            }
            ("qmreset", TaskAction::Reset { vmid, skiplock })
        }
        "suspend" => {
            let todisk = p.take_bool("todisk")?.unwrap_or(false);
            let statestorage = p.take("statestorage");
            p.reject_unknown(&[])?;
            if statestorage.is_some() && !todisk {
                return Err(PveError::param(
                    "statestorage",
                    "missing property - 'statestorage' requires this property: 'todisk'",
                ));
            }
            if !vm.is_running() {
                return Err(PveError::internal(format!("VM {vmid} not running")));
            }
            if !todisk {
                ("qmpause", TaskAction::Pause { vmid, skiplock })
            } else {
                auth::check(&w.pve, &who, &vm_path(vmid), &["VM.Config.Disk"])?;
                if vm.config.keys().any(|k| k.starts_with("hostpci")) {
                    return Err(PveError::internal(
                        "cannot suspend VM to disk due to passed-through PCI device(s), which lack the possibility to save/restore their internal state",
                    ));
                }
                let target = statestorage
                    .clone()
                    .unwrap_or_else(|| vmstate_storage(&w, &vm));
                auth::check(
                    &w.pve,
                    &who,
                    &format!("/storage/{target}"),
                    &["Datastore.AllocateSpace"],
                )?;
                let mut first_log = Vec::new();
                let mut failure = None;
                if !skiplock && vm.lock().is_some() && vm.lock() != Some("backup") {
                    failure = Some(format!("VM is locked ({})", vm.lock().unwrap_or_default()));
                } else {
                    let date = chrono::Local::now().format("%Y-%m-%d");
                    let name = format!("vm-{vmid}-state-suspend-{date}.raw");
                    let size = 2 * vm.memory_bytes() + (500 << 20);
                    match volumes::alloc_named(&mut w, &target, node, vmid, &name, size) {
                        Ok(volid) => {
                            first_log
                                .push(format!("saving VM state and RAM using storage '{target}'"));
                            let vmref = w.pve.vms.get_mut(&vmid).expect("found above");
                            vmref.config.insert("lock".into(), "suspending".into());
                            vmref.config.insert("vmstate".into(), volid);
                            vmref
                                .config
                                .insert("runningmachine".into(), "pc-i440fx-8.1+pve0".into());
                            vmref.config.insert(
                                "runningcpu".into(),
                                "kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep".into(),
                            );
                        }
                        Err(e) => failure = Some(e),
                    }
                }
                let upid = tasks::fork_worker(
                    sim,
                    &mut w,
                    TaskRequest {
                        node,
                        kind: "qmsuspend",
                        id: vmid.to_string(),
                        user: &who.ident(),
                        vmid: Some(vmid),
                        action: TaskAction::Hibernate { vmid, statestorage },
                        first_log,
                    },
                );
                if let Some(f) = failure {
                    // The worker dies before it changed anything.
                    if let Some(t) = w.pve.tasks.iter_mut().find(|t| t.upid == upid) {
                        t.action = TaskAction::Noop;
                        t.failure = Some(f);
                    }
                }
                return Ok(json!(upid));
            }
        }
        "resume" => {
            p.take_bool("nocheck")?;
            p.reject_unknown(&[])?;
            let from_disk = vm.lock() == Some("suspended");
            if !from_disk && !vm.is_running() {
                return Err(PveError::internal(format!("VM {vmid} not running")));
            }
            (
                "qmresume",
                TaskAction::Resume {
                    vmid,
                    skiplock,
                    from_disk,
                },
            )
        }
        _ => unreachable!("checked above"),
    };
    let upid = fork(sim, &mut w, node, kind, vmid, &who, task);
    Ok(json!(upid))
}

/// Number of file systems the guest has: one per non-cdrom disk.
fn guest_filesystems(vm: &Vm) -> usize {
    vm.config
        .iter()
        .filter(|(k, v)| is_drive_key(k) && Drive::parse(v).is_ok_and(|d| !d.is_cdrom()))
        .count()
        .max(1)
}

pub async fn agent(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid, command)): Path<(String, String, String)>,
    call: Call,
) -> Response {
    let result = agent_inner(&sim, &node, &vmid, &command, call);
    respond(result)
}

/// Legacy `POST .../agent` with `command=<cmd>`.
pub async fn agent_legacy(
    State(sim): State<Arc<Sim>>,
    Path((node, vmid)): Path<(String, String)>,
    mut call: Call,
) -> Response {
    let command = call.params.take("command").unwrap_or_default();
    if command.is_empty() {
        return respond(Err(PveError::param(
            "command",
            "property is missing and it is not optional",
        )));
    }
    respond(agent_inner(&sim, &node, &vmid, &command, call))
}

fn agent_inner(
    sim: &Arc<Sim>,
    node: &str,
    vmid: &str,
    command: &str,
    call: Call,
) -> PveResult<Value> {
    const COMMANDS: &[&str] = &[
        "fsfreeze-freeze",
        "fsfreeze-thaw",
        "fsfreeze-status",
        "ping",
        "fstrim",
    ];
    if !COMMANDS.contains(&command) {
        return Err(PveError::not_implemented(call.method.as_str(), &call.path));
    }
    let who = call.begin(sim)?;
    let vmid = parse_vmid(vmid)?;
    call.params().reject_unknown(&[])?;
    let (result, event) = sim.mutate(|w| -> PveResult<(Value, Option<(&str, String)>)> {
        let vm = find_vm(&w.pve, node, vmid)?;
        // PVE 8 guards all agent calls with VM.Monitor.
        auth::check(&w.pve, &who, &vm_path(vmid), &["VM.Monitor"])?;
        if !vm.agent_enabled() {
            return Err(PveError::internal("No QEMU guest agent configured"));
        }
        if !vm.is_running() {
            return Err(PveError::internal(format!("VM {vmid} is not running")));
        }
        if !vm.agent_running {
            return Err(PveError::internal("QEMU guest agent is not running"));
        }
        let fs = guest_filesystems(vm);
        let frozen = vm.frozen;
        let qga = |cmd: &str, msg: &str| PveError::internal(format!("VM {vmid} qmp command 'guest-{cmd}' failed - {msg}"));
        let vm = w.pve.vms.get_mut(&vmid).expect("found above");
        match command {
            "fsfreeze-status" => Ok((json!({ "result": if frozen { "frozen" } else { "thawed" } }), None)),
            "ping" => Ok((json!({ "result": {} }), None)),
            "fsfreeze-freeze" => {
                if frozen {
                    return Err(qga(command, "Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state"));
                }
                if let Some(err) = &vm.freeze_error {
                    return Err(qga(command, err));
                }
                vm.frozen = true;
                Ok((json!({ "result": fs }), Some(("freeze", format!("VM {vmid}: {fs} filesystems frozen")))))
            }
            "fsfreeze-thaw" => {
                if !frozen {
                    return Ok((json!({ "result": 0 }), None));
                }
                vm.frozen = false;
                Ok((json!({ "result": fs }), Some(("thaw", format!("VM {vmid}: {fs} filesystems thawed")))))
            }
            "fstrim" => {
                if frozen {
                    return Err(qga(command, "Command guest-fstrim has been disabled: the agent is in frozen state"));
                }
                Ok((json!({ "result": { "paths": [] } }), None))
            }
            _ => unreachable!("checked above"),
        }
    })?;
    if let Some((kind, detail)) = event {
        sim.record_event("pve", kind, detail);
    }
    Ok(result)
}
