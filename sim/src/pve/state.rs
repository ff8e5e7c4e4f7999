//! The Proxmox VE part of the world: nodes, users, storage configuration, VMs (config, pending section, run
//! state) and tasks. Everything is plain data so the world can be persisted and restored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::drive::{self, is_drive_key, is_unused_key, Drive};
use super::scenario::{PowerState, PveScenario, UserScenario, VersionInfo};
use super::tasks::Task;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pve {
    pub version: VersionInfo,
    pub cluster_name: Option<String>,
    pub nodes: Vec<NodeState>,
    pub users: Vec<UserScenario>,
    pub storages: Vec<StorageConfig>,
    pub vms: BTreeMap<u32, Vm>,
    pub tasks: Vec<Task>,
    /// Files of `dir` storages, by storage id, then path relative to the storage root.
    pub dir_files: BTreeMap<String, BTreeMap<String, DirFile>>,
    /// Signs tickets and CSRF tokens; fresh per world so tickets do not survive a reset.
    pub auth_key: String,
    pub next_pid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub online: bool,
    pub cpus: u32,
    pub memory: u64,
    /// Unix time the node "booted"; uptime and task `pstart` derive from it.
    pub boot_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Nfs,
    Dir,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Nfs => "nfs",
            StorageType::Dir => "dir",
        }
    }
}

/// One section of `storage.cfg`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageConfig {
    pub storage: String,
    pub kind: StorageType,
    pub path: String,
    pub server: Option<String>,
    pub export: Option<String>,
    pub content: BTreeSet<String>,
    pub options: Option<String>,
    pub nodes: Option<Vec<String>>,
    pub disable: bool,
    pub shared: bool,
    /// Other plugin options PVE accepts and echoes (`format`, `prune-backups`, `preallocation`, …).
    pub extra: BTreeMap<String, String>,
    /// Capacity reported for a dir storage (NFS storages report their ONTAP volume).
    pub capacity: u64,
}

impl StorageConfig {
    pub fn enabled_on(&self, node: &str) -> bool {
        !self.disable
            && self
                .nodes
                .as_ref()
                .is_none_or(|n| n.iter().any(|x| x == node))
    }

    pub fn content_string(&self) -> String {
        self.content.iter().cloned().collect::<Vec<_>>().join(",")
    }

    /// The default image format of new volumes (`format` option, else raw).
    pub fn default_format(&self) -> drive::ImageFormat {
        self.extra
            .get("format")
            .and_then(|f| drive::ImageFormat::parse(f))
            .unwrap_or(drive::ImageFormat::Raw)
    }

    /// The object `GET /storage` shows (numbers for booleans, comma lists as strings).
    pub fn to_json(&self, digest: &str) -> Value {
        let mut v = json!({
            "storage": self.storage,
            "type": self.kind.as_str(),
            "content": self.content_string(),
            "path": self.path,
            "digest": digest,
        });
        if let Some(s) = &self.server {
            v["server"] = json!(s);
        }
        if let Some(e) = &self.export {
            v["export"] = json!(e);
        }
        if let Some(o) = &self.options {
            v["options"] = json!(o);
        }
        if let Some(n) = &self.nodes {
            v["nodes"] = json!(n.join(","));
        }
        if self.disable {
            v["disable"] = json!(1);
        }
        if self.shared || self.kind == StorageType::Nfs {
            v["shared"] = json!(1);
        }
        for (k, val) in &self.extra {
            v[k] = json!(val);
        }
        v
    }

    /// The section as `storage.cfg` would hold it; the storage digest hashes these.
    pub fn cfg_text(&self) -> String {
        let mut out = format!("{}: {}\n", self.kind.as_str(), self.storage);
        out.push_str(&format!("\tpath {}\n", self.path));
        if let Some(s) = &self.server {
            out.push_str(&format!("\tserver {s}\n"));
        }
        if let Some(e) = &self.export {
            out.push_str(&format!("\texport {e}\n"));
        }
        out.push_str(&format!("\tcontent {}\n", self.content_string()));
        if let Some(o) = &self.options {
            out.push_str(&format!("\toptions {o}\n"));
        }
        if let Some(n) = &self.nodes {
            out.push_str(&format!("\tnodes {}\n", n.join(",")));
        }
        if self.disable {
            out.push_str("\tdisable\n");
        }
        if self.shared && self.kind == StorageType::Dir {
            out.push_str("\tshared 1\n");
        }
        for (k, v) in &self.extra {
            out.push_str(&format!("\t{k} {v}\n"));
        }
        out.push('\n');
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirFile {
    pub size: u64,
    pub ctime: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vm {
    pub vmid: u32,
    pub node: String,
    /// Active configuration, values exactly as PVE writes them into `<vmid>.conf`.
    pub config: BTreeMap<String, String>,
    /// The `[PENDING]` section: changed values waiting for the next cold start.
    pub pending: BTreeMap<String, String>,
    /// Pending deletions (`delete:` line in `[PENDING]`), with their force flag.
    pub pending_delete: BTreeMap<String, bool>,
    pub power: PowerState,
    pub agent_running: bool,
    pub freeze_error: Option<String>,
    pub frozen: bool,
    pub started_at: Option<i64>,
    pub pid: Option<u32>,
}

/// Config keys whose schema type is integer or boolean: PVE returns them as JSON numbers. Everything else
/// (property strings such as drives, `net0`, `agent`, `memory`; `number` types such as `cpulimit`) is a string.
const NUMERIC_KEYS: &[&str] = &[
    "acpi",
    "autostart",
    "balloon",
    "cores",
    "cpuunits",
    "freeze",
    "keephugepages",
    "kvm",
    "localtime",
    "migrate_speed",
    "numa",
    "onboot",
    "protection",
    "reboot",
    "shares",
    "sockets",
    "tablet",
    "tdf",
    "template",
    "vcpus",
];

pub fn is_numeric_key(key: &str) -> bool {
    NUMERIC_KEYS.contains(&key)
}

/// A config value as PVE's JSON formatter emits it.
pub fn config_value_json(key: &str, value: &str) -> Value {
    if is_numeric_key(key) {
        if let Ok(n) = value.parse::<i64>() {
            return json!(n);
        }
    }
    json!(value)
}

impl Vm {
    /// The config file text (`key: value` lines, then `[PENDING]`); its SHA-1 is the `digest`.
    pub fn config_text(&self) -> String {
        let mut out = String::new();
        if let Some(desc) = self.config.get("description") {
            for line in desc.lines() {
                out.push_str(&format!("#{line}\n"));
            }
        }
        for (k, v) in self.config.iter().filter(|(k, _)| *k != "description") {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            out.push_str("\n[PENDING]\n");
            for (k, v) in &self.pending {
                out.push_str(&format!("{k}: {v}\n"));
            }
            if !self.pending_delete.is_empty() {
                let list: Vec<String> = self
                    .pending_delete
                    .iter()
                    .map(|(k, f)| if *f { format!("!{k}") } else { k.clone() })
                    .collect();
                out.push_str(&format!("delete: {}\n", list.join(",")));
            }
        }
        out
    }

    pub fn digest(&self) -> String {
        sha1_smol::Sha1::from(self.config_text())
            .digest()
            .to_string()
    }

    pub fn is_running(&self) -> bool {
        matches!(self.power, PowerState::Running | PowerState::Paused)
    }

    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    pub fn name(&self) -> String {
        self.config
            .get("name")
            .cloned()
            .unwrap_or_else(|| format!("VM {}", self.vmid))
    }

    pub fn is_template(&self) -> bool {
        self.config.get("template").is_some_and(|t| t == "1")
    }

    /// `agent` is a property string whose default key is `enabled`.
    pub fn agent_enabled(&self) -> bool {
        let Some(agent) = self.config.get("agent") else {
            return false;
        };
        agent.split(',').any(|part| match part.split_once('=') {
            Some(("enabled", v)) => is_true(v),
            Some(_) => false,
            None => is_true(part),
        })
    }

    /// Bytes of RAM; `memory` is a property string (`[current=]<MiB>`), default 512 MiB.
    pub fn memory_bytes(&self) -> u64 {
        let mib = self
            .config
            .get("memory")
            .and_then(|m| {
                m.split(',').find_map(|p| match p.split_once('=') {
                    Some(("current", v)) => v.parse::<u64>().ok(),
                    Some(_) => None,
                    None => p.parse::<u64>().ok(),
                })
            })
            .unwrap_or(512);
        mib << 20
    }

    pub fn cpus(&self) -> u64 {
        let num = |k: &str, d: u64| {
            self.config
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(d)
        };
        num("vcpus", num("cores", 1) * num("sockets", 1))
    }

    /// Sum of the sizes of the disk drives (what `maxdisk` shows: the boot disk in PVE, all disks here).
    pub fn maxdisk(&self) -> u64 {
        self.config
            .iter()
            .filter(|(k, _)| is_drive_key(k))
            .filter_map(|(_, v)| Drive::parse(v).ok())
            .filter(|d| !d.is_cdrom())
            .filter_map(|d| d.size())
            .max()
            .unwrap_or(0)
    }

    /// Every volume the config references (drives, unused, vmstate; pending included), as volids.
    pub fn referenced_volumes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |key: &str, value: &str| {
            if key == "vmstate" {
                out.push((key.to_string(), value.to_string()));
            } else if is_drive_key(key) || is_unused_key(key) {
                if let Ok(d) = Drive::parse(value) {
                    out.push((key.to_string(), d.file));
                }
            }
        };
        for (k, v) in &self.config {
            push(k, v);
        }
        for (k, v) in &self.pending {
            push(k, v);
        }
        out
    }

    /// The lowest free `unusedN` key, counting pending entries as taken.
    pub fn free_unused_key(&self) -> Option<String> {
        (0..=255)
            .map(|i| format!("unused{i}"))
            .find(|k| !self.config.contains_key(k) && !self.pending.contains_key(k))
    }

    /// Registers an owned volume as `unusedN` unless it is already listed there (`add_unused_volume`).
    pub fn add_unused_volume(&mut self, volid: &str) -> Result<(), String> {
        let already = self
            .config
            .iter()
            .chain(self.pending.iter())
            .any(|(k, v)| is_unused_key(k) && v == volid);
        if already {
            return Ok(());
        }
        let key = self
            .free_unused_key()
            .ok_or_else(|| "Too many unused volumes - please delete them first.".to_string())?;
        self.config.insert(key, volid.to_string());
        Ok(())
    }

    /// The config as `GET .../config` shows it: pending values merged in unless `current`.
    pub fn config_json(&self, current: bool) -> Value {
        let mut merged = self.config.clone();
        if !current {
            for k in self.pending_delete.keys() {
                merged.remove(k);
            }
            for (k, v) in &self.pending {
                merged.insert(k.clone(), v.clone());
            }
        }
        let mut obj = serde_json::Map::new();
        for (k, v) in &merged {
            let value = if k == "cipassword" {
                json!("**********")
            } else {
                config_value_json(k, v)
            };
            obj.insert(k.clone(), value);
        }
        obj.insert("digest".into(), json!(self.digest()));
        Value::Object(obj)
    }

    /// `GET .../pending`: one entry per key with `value` (active), `pending` (new) and `delete` (1 or 2 = force).
    pub fn pending_json(&self) -> Value {
        let keys: BTreeSet<&String> = self
            .config
            .keys()
            .chain(self.pending.keys())
            .chain(self.pending_delete.keys())
            .collect();
        let entries: Vec<Value> = keys
            .into_iter()
            .map(|k| {
                let mut e = json!({ "key": k });
                if let Some(v) = self.config.get(k) {
                    e["value"] = if k == "cipassword" {
                        json!("**********")
                    } else {
                        config_value_json(k, v)
                    };
                }
                if let Some(v) = self.pending.get(k) {
                    e["pending"] = config_value_json(k, v);
                }
                if let Some(force) = self.pending_delete.get(k) {
                    e["delete"] = json!(if *force { 2 } else { 1 });
                }
                e
            })
            .collect();
        Value::Array(entries)
    }

    pub fn qmpstatus(&self) -> &'static str {
        match self.power {
            PowerState::Running => "running",
            PowerState::Paused => "paused",
            PowerState::Stopped => "stopped",
        }
    }

    pub fn status(&self) -> &'static str {
        if self.is_running() {
            "running"
        } else {
            "stopped"
        }
    }

    pub fn uptime(&self, now: i64) -> i64 {
        self.started_at
            .filter(|_| self.is_running())
            .map(|t| (now - t).max(0))
            .unwrap_or(0)
    }
}

pub fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
}

/// Scenario scalars as config text: booleans become 1/0 like PVE writes them.
fn scalar_text(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.into()),
        _ => Err(format!("config key '{key}' must be a scalar")),
    }
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Pve {
    pub fn from_scenario(s: &PveScenario) -> Result<Pve, String> {
        let now = now_secs();
        if s.nodes.is_empty() {
            return Err("at least one node is required".into());
        }
        let nodes: Vec<NodeState> = s
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeState {
                name: n.name.clone(),
                online: n.online,
                cpus: n.cpus,
                memory: n.memory.0,
                boot_time: now - 86_400 - 3_600 * i as i64,
            })
            .collect();
        let node_exists = |n: &str| nodes.iter().any(|x| x.name == n);
        for u in &s.users {
            if !u.userid.contains('@') {
                return Err(format!("user '{}' needs a realm (user@realm)", u.userid));
            }
        }

        let mut storages = Vec::new();
        let mut dir_files = BTreeMap::new();
        for st in &s.storages {
            if !drive::is_valid_storage_id(&st.storage) {
                return Err(format!("invalid storage id '{}'", st.storage));
            }
            if storages
                .iter()
                .any(|x: &StorageConfig| x.storage == st.storage)
            {
                return Err(format!("duplicate storage '{}'", st.storage));
            }
            let kind = match st.kind.as_str() {
                "nfs" => StorageType::Nfs,
                "dir" => StorageType::Dir,
                other => {
                    return Err(format!(
                        "storage '{}': unsupported type '{other}'",
                        st.storage
                    ))
                }
            };
            if kind == StorageType::Nfs && (st.server.is_none() || st.export.is_none()) {
                return Err(format!(
                    "nfs storage '{}' needs server and export",
                    st.storage
                ));
            }
            let path = match (&st.path, kind) {
                (Some(p), _) => p.clone(),
                (None, StorageType::Nfs) => format!("/mnt/pve/{}", st.storage),
                (None, StorageType::Dir) => {
                    return Err(format!("dir storage '{}' needs a path", st.storage))
                }
            };
            let content: BTreeSet<String> = st
                .content
                .as_deref()
                .unwrap_or("images")
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            let mut files = BTreeMap::new();
            for f in &st.files {
                files.insert(
                    f.path.trim_start_matches('/').to_string(),
                    DirFile {
                        size: f.size.0,
                        ctime: now - 86_400,
                    },
                );
            }
            if kind == StorageType::Dir {
                dir_files.insert(st.storage.clone(), files);
            } else if !st.files.is_empty() {
                return Err(format!(
                    "nfs storage '{}': files live in the ONTAP volume, not here",
                    st.storage
                ));
            }
            storages.push(StorageConfig {
                storage: st.storage.clone(),
                kind,
                path,
                server: st.server.clone(),
                export: st.export.clone(),
                content,
                options: st.options.clone(),
                nodes: st
                    .nodes
                    .as_ref()
                    .map(|n| n.split(',').map(str::to_string).collect()),
                disable: st.disable,
                shared: st.shared || kind == StorageType::Nfs,
                extra: BTreeMap::new(),
                capacity: st.capacity.map(|c| c.0).unwrap_or(100 << 30),
            });
        }

        let mut vms = BTreeMap::new();
        for v in &s.vms {
            if !node_exists(&v.node) {
                return Err(format!("VM {}: unknown node '{}'", v.vmid, v.node));
            }
            if !(100..=999_999_999).contains(&v.vmid) {
                return Err(format!("VM {}: vmid out of range", v.vmid));
            }
            let mut config = BTreeMap::new();
            for (k, val) in &v.config {
                let text = scalar_text(k, val)?;
                if is_drive_key(k) || is_unused_key(k) {
                    let d = Drive::parse(&text).map_err(|e| format!("VM {} {k}: {e}", v.vmid))?;
                    config.insert(k.clone(), d.to_string());
                } else {
                    config.insert(k.clone(), text);
                }
            }
            let running = v.status != PowerState::Stopped;
            let vm = Vm {
                vmid: v.vmid,
                node: v.node.clone(),
                config,
                pending: BTreeMap::new(),
                pending_delete: BTreeMap::new(),
                power: v.status,
                agent_running: v.agent_running,
                freeze_error: v.freeze_error.clone(),
                frozen: false,
                started_at: running.then_some(now - 3_600),
                pid: running.then_some(10_000 + v.vmid),
            };
            if vms.insert(v.vmid, vm).is_some() {
                return Err(format!("duplicate VM {}", v.vmid));
            }
        }

        let key: [u8; 32] = rand::random();
        Ok(Pve {
            version: s.version.clone(),
            cluster_name: s.cluster_name.clone(),
            nodes,
            users: s.users.clone(),
            storages,
            vms,
            tasks: Vec::new(),
            dir_files,
            auth_key: hex::encode(key),
            next_pid: 200_000,
        })
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn storage(&self, id: &str) -> Option<&StorageConfig> {
        self.storages.iter().find(|s| s.storage == id)
    }

    pub fn user(&self, userid: &str) -> Option<&UserScenario> {
        self.users.iter().find(|u| u.userid == userid)
    }

    /// SHA-1 of the whole `storage.cfg`, as `GET /storage` reports per entry.
    pub fn storage_digest(&self) -> String {
        let text: String = self.storages.iter().map(StorageConfig::cfg_text).collect();
        sha1_smol::Sha1::from(text).digest().to_string()
    }

    /// What `/_sim/inventory` shows under `pve`.
    pub fn inventory(&self) -> Value {
        let now = now_secs();
        let digest = self.storage_digest();
        json!({
            "version": self.version,
            "nodes": self.nodes.iter().map(|n| json!({"node": n.name, "online": n.online})).collect::<Vec<_>>(),
            "storages": self.storages.iter().map(|s| s.to_json(&digest)).collect::<Vec<_>>(),
            "dir_files": self.dir_files,
            "vms": self.vms.values().map(|vm| json!({
                "vmid": vm.vmid,
                "node": vm.node,
                "name": vm.name(),
                "status": vm.status(),
                "qmpstatus": vm.qmpstatus(),
                "lock": vm.lock(),
                "uptime": vm.uptime(now),
                "agent_configured": vm.agent_enabled(),
                "agent_running": vm.agent_running,
                "frozen": vm.frozen,
                "config": vm.config,
                "pending": vm.pending,
                "pending_delete": vm.pending_delete,
                "digest": vm.digest(),
            })).collect::<Vec<_>>(),
            "frozen_filesystems": self.vms.values().filter(|vm| vm.frozen).map(|vm| vm.vmid).collect::<Vec<_>>(),
            "running_tasks": self.tasks.iter().filter(|t| t.running).map(Task::status_json).collect::<Vec<_>>(),
            "tasks": self.tasks.iter().rev().take(50).map(Task::status_json).collect::<Vec<_>>(),
        })
    }
}
