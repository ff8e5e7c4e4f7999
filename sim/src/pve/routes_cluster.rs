//! `/access/ticket`, `/version`, `/nodes`, `/cluster/resources`, `/cluster/status`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::api::{check_node, dir_index, respond, Call};
use super::auth::{self, Identity};
use super::error::{PveError, PveResult};
use super::state::{now_secs, Pve};
use super::volumes;
use crate::world::Sim;

pub async fn login(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond(login_inner(&sim, call))
}

fn login_inner(sim: &Arc<Sim>, call: Call) -> PveResult<Value> {
    if auth::has_token_header(&call.headers) {
        return Err(PveError::forbidden_text(format!(
            "URI '{}' not available with API token, need proper ticket.",
            call.path
        )));
    }
    super::tasks::advance(sim);
    let mut p = call.params();
    let username = p.require("username")?;
    let password = p.require("password")?;
    let realm = p.take("realm");
    let otp = p.take("otp");
    let check_path = p.take("path");
    let check_privs = p.take("privs");
    p.take("new-format");
    p.take("tfa-challenge");
    p.reject_unknown(&[])?;
    let userid = match (username.contains('@'), realm) {
        (true, _) => username,
        (false, Some(r)) => format!("{username}@{r}"),
        (false, None) => username,
    };
    let lifetime = sim.timings().pve.ticket_lifetime_secs;
    let now = now_secs();
    let world = sim.world();
    let pve = &world.pve;
    let fail = || PveError::unauthorized("authentication failure");
    let user = pve.user(&userid).filter(|u| u.enabled).ok_or_else(fail)?;
    let renewal = auth::verify_ticket(pve, &password, now, lifetime).is_some_and(|u| u == userid);
    if !renewal && user.password.as_deref() != Some(password.as_str()) {
        return Err(fail());
    }
    if otp.is_some() {
        // No TFA is configured for simulated users; PVE ignores a stray OTP in that case.
    }
    let who = Identity {
        userid: userid.clone(),
        tokenid: None,
    };
    if let (Some(path), Some(privs)) = (check_path, check_privs) {
        // Verify-only mode: answers null or fails, no ticket.
        let list: Vec<&str> = privs
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .collect();
        auth::check(pve, &who, &path, &list).map_err(|_| fail())?;
        return Ok(Value::Null);
    }
    let mut out = json!({
        "username": userid,
        "ticket": auth::create_ticket(pve, &userid, now),
        "CSRFPreventionToken": auth::create_csrf(pve, &userid, now),
        "cap": auth::capabilities(pve, &who),
    });
    if let Some(c) = &pve.cluster_name {
        if auth::has(pve, &who, "/", "Sys.Audit") {
            out["clustername"] = json!(c);
        }
    }
    Ok(out)
}

/// `GET /access/ticket` is a no-op that answers null (the GUI uses it to probe).
pub async fn login_get() -> Response {
    respond(Ok(Value::Null))
}

pub async fn version(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        call.begin(&sim)?;
        let w = sim.world();
        Ok(json!({
            "version": w.pve.version.version,
            "release": w.pve.version.release,
            "repoid": w.pve.version.repoid,
        }))
    })())
}

fn node_entry(pve: &Pve, who: &Identity, name: &str, now: i64) -> Value {
    let n = pve.node(name).expect("caller passes existing nodes");
    let mut v = json!({
        "node": n.name,
        "id": format!("node/{}", n.name),
        "type": "node",
        "status": if n.online { "online" } else { "offline" },
        "level": "",
        "ssl_fingerprint": ssl_fingerprint(&n.name),
    });
    if n.online && auth::has(pve, who, &format!("/nodes/{}", n.name), "Sys.Audit") {
        let running: Vec<_> = pve
            .vms
            .values()
            .filter(|vm| vm.node == n.name && vm.is_running())
            .collect();
        let mem: u64 = running.iter().map(|vm| vm.memory_bytes()).sum::<u64>() + (2 << 30);
        v["cpu"] = json!(0.01 + 0.02 * running.len() as f64);
        v["maxcpu"] = json!(n.cpus);
        v["mem"] = json!(mem.min(n.memory));
        v["maxmem"] = json!(n.memory);
        v["uptime"] = json!(now - n.boot_time);
        v["disk"] = json!(8u64 << 30);
        v["maxdisk"] = json!(100u64 << 30);
    }
    v
}

/// A stable fake SHA-256 fingerprint per node name.
fn ssl_fingerprint(node: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(node.as_bytes());
    h.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub async fn nodes(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let w = sim.world();
        let now = now_secs();
        Ok(Value::Array(
            w.pve
                .nodes
                .iter()
                .map(|n| node_entry(&w.pve, &who, &n.name, now))
                .collect(),
        ))
    })())
}

/// `GET /nodes/{node}`: the directory index of a node.
pub async fn node_index(
    State(sim): State<Arc<Sim>>,
    Path(node): Path<String>,
    call: Call,
) -> Response {
    respond((|| {
        call.begin(&sim)?;
        check_node(&sim.world().pve, &node)?;
        let dirs = ["qemu", "storage", "tasks", "status", "version"];
        Ok(dir_index("name", &dirs))
    })())
}

/// `GET /nodes/{node}/status`.
pub async fn node_status(
    State(sim): State<Arc<Sim>>,
    Path(node): Path<String>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        auth::check(&w.pve, &who, &format!("/nodes/{node}"), &["Sys.Audit"])?;
        let n = w.pve.node(&node).expect("checked");
        Ok(json!({
            "uptime": now_secs() - n.boot_time,
            "cpu": 0.02,
            "cpuinfo": { "cpus": n.cpus, "sockets": 1, "cores": n.cpus, "model": "Simulated CPU" },
            "memory": { "total": n.memory, "used": 2u64 << 30, "free": n.memory.saturating_sub(2 << 30) },
            "pveversion": format!("pve-manager/{}/{}", w.pve.version.version, w.pve.version.repoid),
            "kversion": "Linux 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4",
        }))
    })())
}

pub async fn cluster_resources(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let kind = p.take("type");
        p.reject_unknown(&[])?;
        if let Some(k) = &kind {
            if !["vm", "storage", "node", "sdn"].contains(&k.as_str()) {
                return Err(PveError::param("type", format!("value '{k}' does not have a value in the enumeration 'vm, storage, node, sdn'")));
            }
        }
        let wants = |k: &str| kind.as_deref().is_none_or(|x| x == k);
        let w = sim.world();
        let pve = &w.pve;
        let now = now_secs();
        let mut out = Vec::new();
        if wants("vm") {
            for vm in pve.vms.values() {
                if !auth::has(pve, &who, &format!("/vms/{}", vm.vmid), "VM.Audit") {
                    continue;
                }
                let running = vm.is_running();
                let mut v = json!({
                    "id": format!("qemu/{}", vm.vmid),
                    "vmid": vm.vmid,
                    "type": "qemu",
                    "node": vm.node,
                    "status": if running { vm.qmpstatus() } else { "stopped" },
                    "name": vm.name(),
                    "template": if vm.is_template() { 1 } else { 0 },
                    "uptime": vm.uptime(now),
                    "cpu": if running { 0.012 } else { 0.0 },
                    "maxcpu": vm.cpus(),
                    "mem": if running { vm.memory_bytes() / 2 } else { 0 },
                    "maxmem": vm.memory_bytes(),
                    "disk": 0,
                    "maxdisk": vm.maxdisk(),
                    "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
                });
                if let Some(l) = vm.lock() {
                    v["lock"] = json!(l);
                }
                if let Some(t) = vm.config.get("tags") {
                    v["tags"] = json!(t);
                }
                out.push(v);
            }
        }
        if wants("node") {
            for n in &pve.nodes {
                out.push(node_entry(pve, &who, &n.name, now));
            }
        }
        if wants("storage") {
            for st in &pve.storages {
                if !auth::has(
                    pve,
                    &who,
                    &format!("/storage/{}", st.storage),
                    "Datastore.Audit",
                ) && !auth::has(
                    pve,
                    &who,
                    &format!("/storage/{}", st.storage),
                    "Datastore.AllocateSpace",
                ) {
                    continue;
                }
                for n in pve.nodes.iter().filter(|n| st.enabled_on(&n.name)) {
                    let online = n.online && volumes::activate(&w, st, &n.name).is_ok();
                    let mut v = json!({
                        "id": format!("storage/{}/{}", n.name, st.storage),
                        "storage": st.storage,
                        "node": n.name,
                        "type": "storage",
                        "status": if online { "available" } else { "unknown" },
                        "content": st.content_string(),
                        "shared": if st.shared { 1 } else { 0 },
                        "plugintype": st.kind.as_str(),
                    });
                    if online {
                        if let Some((total, used, _)) = volumes::capacity(&w, st) {
                            v["disk"] = json!(used);
                            v["maxdisk"] = json!(total);
                        }
                    }
                    out.push(v);
                }
            }
        }
        Ok(Value::Array(out))
    })())
}

/// `GET /cluster/status`: the cluster entry (when clustered) and one entry per node.
pub async fn cluster_status(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        call.begin(&sim)?;
        let w = sim.world();
        let pve = &w.pve;
        let mut out = Vec::new();
        if let Some(name) = &pve.cluster_name {
            out.push(json!({
                "type": "cluster", "id": "cluster", "name": name, "nodes": pve.nodes.len(),
                "quorate": 1, "version": 1,
            }));
        }
        for (i, n) in pve.nodes.iter().enumerate() {
            out.push(json!({
                "type": "node", "id": format!("node/{}", n.name), "name": n.name, "nodeid": i + 1,
                "online": if n.online { 1 } else { 0 }, "local": if i == 0 { 1 } else { 0 },
                "ip": format!("192.0.2.{}", 101 + i), "level": "",
            }));
        }
        Ok(Value::Array(out))
    })())
}

/// `GET /cluster/nextid[?vmid=N]`: the lowest free VMID from 100 (as a string, like PVE), or a check of `vmid`.
pub async fn next_id(State(sim): State<Arc<Sim>>, call: Call) -> Response {
    respond((|| {
        call.begin(&sim)?;
        let mut p = call.params();
        let wanted = p.take_int("vmid", Some(100))?;
        p.reject_unknown(&[])?;
        let w = sim.world();
        if let Some(id) = wanted {
            if w.pve.vms.contains_key(&(id as u32)) {
                return Err(PveError::param("vmid", format!("VM {id} already exists")));
            }
            return Ok(json!(id.to_string()));
        }
        let free = (100u32..1_000_000).find(|id| !w.pve.vms.contains_key(id));
        free.map(|id| json!(id.to_string()))
            .ok_or_else(|| PveError::internal("unable to get any free VMID in range [100, 999999]"))
    })())
}
