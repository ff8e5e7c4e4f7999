//! Typed Proxmox VE API responses. Numbers are decoded leniently (Proxmox sends some as strings).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::drive::{DiskKey, Drive};

/// Accepts a JSON number or a numeric string.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Bool(b)) => Some(u64::from(b)),
        _ => None,
    })
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_u64(d)?.and_then(|v| u32::try_from(v).ok()))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "yes" | "on"),
        _ => false,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub repoid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub node: String,
    /// `online`, `offline` or `unknown`.
    #[serde(default)]
    pub status: String,
}

/// One entry of `GET /cluster/resources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub vmid: Option<u32>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: bool,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub plugintype: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: bool,
}

/// Which `GET /cluster/resources` entries to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Vm,
    Storage,
    Node,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Vm => "vm",
            ResourceType::Storage => "storage",
            ResourceType::Node => "node",
        }
    }
}

/// A storage definition from `/storage`. Options not modelled are kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageConfig {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub export: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// Comma-separated content types.
    #[serde(default)]
    pub content: Option<String>,
    /// Comma-separated node list (absent: all nodes).
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default)]
    pub options: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub disable: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: bool,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl StorageConfig {
    pub fn is_nfs(&self) -> bool {
        self.kind == "nfs"
    }

    pub fn content_types(&self) -> Vec<&str> {
        self.content
            .as_deref()
            .map(|c| c.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn node_list(&self) -> Option<Vec<&str>> {
        self.nodes
            .as_deref()
            .map(|n| n.split(',').filter(|s| !s.is_empty()).collect())
    }
}

/// Parameters of a new NFS storage (`POST /storage`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NfsStorageSpec {
    pub storage: String,
    pub server: String,
    pub export: String,
    pub content: Vec<String>,
    pub nodes: Vec<String>,
    pub options: Option<String>,
    pub path: Option<String>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageContentItem {
    pub volid: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub used: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub vmid: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub ctime: Option<u64>,
    #[serde(default)]
    pub parent: Option<String>,
}

/// A VM config (`GET /nodes/{node}/qemu/{vmid}/config`) with its digest.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VmConfig {
    /// SHA-1 of the config file; pass it back on updates to detect concurrent changes.
    pub digest: String,
    pub entries: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for VmConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut entries = BTreeMap::<String, Value>::deserialize(d)?;
        let digest = match entries.remove("digest") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Ok(VmConfig { digest, entries })
    }
}

impl VmConfig {
    /// A value as Proxmox would print it in the config file (numbers rendered as text).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.entries.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Every disk-holding key (drives and `unusedN`) with its parsed value, in key order. Values that fail to parse
    /// are returned as errors so callers can report them instead of silently skipping a disk.
    pub fn disks(&self) -> Vec<(DiskKey, Result<Drive, super::drive::DriveParseError>)> {
        let mut out: Vec<(DiskKey, Result<Drive, _>)> = self
            .entries
            .keys()
            .filter_map(|k| k.parse::<DiskKey>().ok())
            .map(|key| {
                let value = self.get(&key.to_string()).unwrap_or_default();
                (key, Drive::parse(&value))
            })
            .collect();
        out.sort_by_key(|(k, _)| *k);
        out
    }

    pub fn lock(&self) -> Option<String> {
        self.get("lock")
    }
}

/// One entry of `GET /nodes/{node}/qemu/{vmid}/pending`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingEntry {
    pub key: String,
    /// Active value.
    #[serde(default)]
    pub value: Option<Value>,
    /// Value applied at the next cold start.
    #[serde(default)]
    pub pending: Option<Value>,
    /// The key is deleted at the next cold start.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub delete: bool,
}

fn value_text(v: &Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

impl PendingEntry {
    pub fn value_text(&self) -> Option<String> {
        value_text(&self.value)
    }
    pub fn pending_text(&self) -> Option<String> {
        value_text(&self.pending)
    }
    /// The entry has a change waiting for the next cold start.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some() || self.delete
    }
}

/// `GET /nodes/{node}/qemu/{vmid}/status/current` (fields the controller uses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmStatus {
    #[serde(default, deserialize_with = "lenient_u32")]
    pub vmid: Option<u32>,
    /// `running` (a QEMU process exists) or `stopped`.
    pub status: String,
    /// QMP run state: `running`, `paused`, `suspended`, `prelaunch`, ...; equals `status` when stopped.
    #[serde(default)]
    pub qmpstatus: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub agent: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: bool,
}

/// The power state that matters for consistency decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    Running,
    Paused,
    /// Stopped with `lock: suspended` and a vmstate volume.
    Hibernated,
    Stopped,
    /// Any other QMP state (prelaunch, inmigrate, io-error, ...).
    Other,
}

impl VmStatus {
    pub fn power_state(&self) -> PowerState {
        match (
            self.status.as_str(),
            self.qmpstatus.as_deref(),
            self.lock.as_deref(),
        ) {
            ("stopped", _, Some("suspended")) => PowerState::Hibernated,
            ("stopped", _, _) => PowerState::Stopped,
            ("running", Some("running") | None, _) => PowerState::Running,
            ("running", Some("paused"), _) => PowerState::Paused,
            _ => PowerState::Other,
        }
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: String,
    #[serde(default)]
    pub node: Option<String>,
    /// `running` or `stopped`.
    pub status: String,
    /// Only when stopped: `OK`, `WARNINGS: n` or the error text.
    #[serde(default)]
    pub exitstatus: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

/// How a task ended, judged by `exitstatus` (reaching `stopped` alone says nothing about success).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    Running,
    Succeeded { warnings: bool },
    Failed { exitstatus: String },
}

impl TaskStatus {
    pub fn outcome(&self) -> TaskOutcome {
        if self.status != "stopped" {
            return TaskOutcome::Running;
        }
        match self.exitstatus.as_deref() {
            Some("OK") => TaskOutcome::Succeeded { warnings: false },
            Some(s) if s.starts_with("WARNINGS:") => TaskOutcome::Succeeded { warnings: true },
            Some(s) => TaskOutcome::Failed {
                exitstatus: s.to_string(),
            },
            None => TaskOutcome::Failed {
                exitstatus: "task stopped without exit status".into(),
            },
        }
    }
}

/// A parsed UPID: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upid {
    pub raw: String,
    pub node: String,
    pub kind: String,
    pub id: String,
    pub user: String,
}

impl Upid {
    pub fn parse(s: &str) -> Option<Upid> {
        let parts: Vec<&str> = s.split(':').collect();
        // 9 fields including the empty one after the trailing colon.
        if parts.len() < 9 || parts[0] != "UPID" || parts[1].is_empty() {
            return None;
        }
        Some(Upid {
            raw: s.to_string(),
            node: parts[1].to_string(),
            kind: parts[5].to_string(),
            id: parts[6].to_string(),
            user: parts[7..parts.len() - 1].join(":"),
        })
    }
}

impl std::fmt::Display for Upid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Guest file-system freeze state (`fsfreeze-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeState {
    Frozen,
    Thawed,
}

/// One entry of `GET /nodes/{node}/tasks`. Running tasks come from the node's active-worker list (`status`
/// `RUNNING`, no `endtime`, `user` as written in the UPID, token included); finished ones from the archive
/// (`status` = exit status, `endtime`, the token split off into `tokenid`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskListEntry {
    pub upid: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// The object the task works on; the VMID for VM tasks.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub tokenid: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub starttime: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub endtime: Option<u64>,
    /// `RUNNING` while active; afterwards the exit status (`OK`, `WARNINGS: n` or the error).
    #[serde(default)]
    pub status: Option<String>,
}

impl TaskListEntry {
    /// Still running: listed from the active workers without an end time.
    pub fn is_running(&self) -> bool {
        self.endtime.is_none() && self.status.as_deref().is_none_or(|s| s == "RUNNING")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vm_config_splits_digest_and_lists_disks() {
        let cfg: VmConfig = serde_json::from_value(json!({
            "digest": "abc",
            "memory": "2048",
            "cores": 2,
            "scsi0": "nfs1:100/vm-100-disk-0.qcow2,size=32G",
            "ide2": "none,media=cdrom",
            "unused0": "nfs1:100/vm-100-disk-1.raw",
            "efidisk0": "nfs1:100/vm-100-disk-2.raw,efitype=4m,size=528K",
            "net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0"
        }))
        .unwrap();
        assert_eq!(cfg.digest, "abc");
        assert_eq!(cfg.get("cores").as_deref(), Some("2"));
        let keys: Vec<String> = cfg.disks().iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["ide2", "scsi0", "efidisk0", "unused0"]);
    }

    #[test]
    fn lenient_numbers() {
        let r: ClusterResource = serde_json::from_value(json!({
            "id": "qemu/100", "type": "qemu", "vmid": "100", "node": "pve1", "template": 0, "status": "running"
        }))
        .unwrap();
        assert_eq!(r.vmid, Some(100));
        assert!(!r.template);
        let c: StorageContentItem =
            serde_json::from_value(json!({"volid": "nfs1:100/a.raw", "size": "1024", "vmid": 100}))
                .unwrap();
        assert_eq!(c.size, Some(1024));
    }

    #[test]
    fn task_outcome_is_judged_by_exitstatus() {
        let t = |status: &str, exit: Option<&str>| TaskStatus {
            upid: "u".into(),
            node: None,
            status: status.into(),
            exitstatus: exit.map(String::from),
            kind: None,
            id: None,
        };
        assert_eq!(t("running", None).outcome(), TaskOutcome::Running);
        assert_eq!(
            t("stopped", Some("OK")).outcome(),
            TaskOutcome::Succeeded { warnings: false }
        );
        assert_eq!(
            t("stopped", Some("WARNINGS: 2")).outcome(),
            TaskOutcome::Succeeded { warnings: true }
        );
        assert_eq!(
            t("stopped", Some("VM 100 already running")).outcome(),
            TaskOutcome::Failed {
                exitstatus: "VM 100 already running".into()
            }
        );
        assert!(matches!(
            t("stopped", None).outcome(),
            TaskOutcome::Failed { .. }
        ));
    }

    #[test]
    fn upid_parsing() {
        let u = Upid::parse("UPID:pve1:0000ABCD:0012F00D:6740A1B2:qmstart:100:root@pam:").unwrap();
        assert_eq!(
            (
                u.node.as_str(),
                u.kind.as_str(),
                u.id.as_str(),
                u.user.as_str()
            ),
            ("pve1", "qmstart", "100", "root@pam")
        );
        let t =
            Upid::parse("UPID:pve2:00001234:00ABCDEF:6740A1B2:qmconfig:101:ctl@pve!k8s:").unwrap();
        assert_eq!(t.user, "ctl@pve!k8s");
        assert!(Upid::parse("UPID:pve1:1").is_none());
        assert!(Upid::parse("garbage").is_none());
    }

    #[test]
    fn power_states() {
        let s = |status: &str, qmp: &str, lock: Option<&str>| VmStatus {
            vmid: Some(100),
            status: status.into(),
            qmpstatus: Some(qmp.into()),
            name: None,
            lock: lock.map(String::from),
            agent: false,
            template: false,
        };
        assert_eq!(
            s("running", "running", None).power_state(),
            PowerState::Running
        );
        assert_eq!(
            s("running", "paused", None).power_state(),
            PowerState::Paused
        );
        assert_eq!(
            s("stopped", "stopped", Some("suspended")).power_state(),
            PowerState::Hibernated
        );
        assert_eq!(
            s("stopped", "stopped", None).power_state(),
            PowerState::Stopped
        );
        assert_eq!(
            s("running", "prelaunch", None).power_state(),
            PowerState::Other
        );
    }
}
