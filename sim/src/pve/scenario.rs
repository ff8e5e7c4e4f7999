//! The `pve:` section of a scenario (and `timings.pve`): nodes, users and tokens with their privileges,
//! storages, VMs, plus how long simulated tasks take.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PveScenario {
    #[serde(default)]
    pub version: VersionInfo,
    /// Shown as `clustername` at login; `None` for a standalone node.
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub nodes: Vec<NodeScenario>,
    #[serde(default)]
    pub users: Vec<UserScenario>,
    #[serde(default)]
    pub storages: Vec<StorageScenario>,
    #[serde(default)]
    pub vms: Vec<VmScenario>,
}

impl Default for PveScenario {
    /// A bare world: one node and `root@pam`, nothing else. The default scenario file fills in the rest.
    fn default() -> Self {
        PveScenario {
            version: VersionInfo::default(),
            cluster_name: None,
            nodes: vec![NodeScenario {
                name: "pve1".into(),
                online: true,
                cpus: 16,
                memory: default_node_memory(),
            }],
            users: vec![UserScenario {
                userid: "root@pam".into(),
                password: Some("proxmox123".into()),
                enabled: true,
                acl: None,
                tokens: Vec::new(),
            }],
            storages: Vec::new(),
            vms: Vec::new(),
        }
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    pub version: String,
    pub release: String,
    pub repoid: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        VersionInfo {
            version: "8.4.1".into(),
            release: "8.4".into(),
            repoid: "2a5fa54a8503f96d".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeScenario {
    pub name: String,
    #[serde(default = "yes")]
    pub online: bool,
    #[serde(default = "default_node_cpus")]
    pub cpus: u32,
    /// Bytes, or a size string such as `64G`.
    #[serde(default = "default_node_memory")]
    pub memory: crate::scenario::Size,
}

fn yes() -> bool {
    true
}
fn default_node_cpus() -> u32 {
    16
}
fn default_node_memory() -> crate::scenario::Size {
    crate::scenario::Size(64 << 30)
}

/// A user of the PVE realm `pam`/`pve`. `acl: None` means full rights (like `root@pam`, which always has them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserScenario {
    pub userid: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub acl: Option<Vec<AclEntry>>,
    #[serde(default)]
    pub tokens: Vec<TokenScenario>,
}

/// An API token `<userid>!<id>`. With `privsep` (PVE's default) its rights are its own `acl` intersected with the
/// user's; without, exactly the user's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenScenario {
    pub id: String,
    pub secret: String,
    #[serde(default = "yes")]
    pub privsep: bool,
    #[serde(default)]
    pub acl: Vec<AclEntry>,
    /// Unix time after which the token is refused; 0 = never.
    #[serde(default)]
    pub expire: i64,
}

/// One ACL grant: privileges on a path (`/`, `/vms/100`, `/storage/ONTAP01`, …), propagating to sub-paths
/// unless `propagate: false`. `privileges` holds PVE privilege names or `*` for all.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    pub path: String,
    pub privileges: Vec<String>,
    #[serde(default = "yes")]
    pub propagate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageScenario {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub export: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub options: Option<String>,
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default)]
    pub disable: bool,
    /// `shared` flag of a dir storage (always set for NFS).
    #[serde(default)]
    pub shared: bool,
    /// Bytes, or a size string: capacity a dir storage reports.
    #[serde(default)]
    pub capacity: Option<crate::scenario::Size>,
    /// Files of a dir storage, relative to its path (`template/iso/debian-12.iso`).
    #[serde(default)]
    pub files: Vec<DirFileScenario>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirFileScenario {
    pub path: String,
    pub size: crate::scenario::Size,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    Running,
    #[default]
    Stopped,
    Paused,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmScenario {
    pub vmid: u32,
    pub node: String,
    #[serde(default)]
    pub status: PowerState,
    /// Whether qemu-guest-agent answers inside the guest (the config's `agent` key says whether it is configured).
    #[serde(default)]
    pub agent_running: bool,
    /// When set, `fsfreeze-freeze` fails with this agent error text (the controller's quiesce-failure path).
    #[serde(default)]
    pub freeze_error: Option<String>,
    /// Config keys as PVE stores them; scalars may be written as YAML numbers.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// `timings.pve`: durations of simulated work in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PveTimings {
    /// Duration of any task type not listed in `tasks`.
    #[serde(default = "default_task_ms")]
    pub default_task_ms: u64,
    /// Per task type (`qmstart`, `qmsuspend`, `qmconfig`, …).
    #[serde(default)]
    pub tasks: BTreeMap<String, u64>,
    /// Delay before a 401 answer; real PVE holds them back ~3000 ms.
    #[serde(default)]
    pub auth_failure_delay_ms: u64,
    /// How long a synchronous config write waits for a task holding the VM's config lock before failing with
    /// `can't lock file ... - got timeout` (PVE: 10 s).
    #[serde(default = "default_config_lock_wait_ms")]
    pub config_lock_wait_ms: u64,
    /// Ticket and CSRF token lifetime (PVE: 2 h).
    #[serde(default = "default_ticket_lifetime")]
    pub ticket_lifetime_secs: i64,
}

fn default_task_ms() -> u64 {
    80
}
fn default_config_lock_wait_ms() -> u64 {
    10_000
}
fn default_ticket_lifetime() -> i64 {
    7200
}

impl Default for PveTimings {
    fn default() -> Self {
        PveTimings {
            default_task_ms: default_task_ms(),
            tasks: BTreeMap::new(),
            auth_failure_delay_ms: 0,
            config_lock_wait_ms: default_config_lock_wait_ms(),
            ticket_lifetime_secs: default_ticket_lifetime(),
        }
    }
}

impl PveTimings {
    pub fn task_ms(&self, kind: &str) -> u64 {
        self.tasks
            .get(kind)
            .copied()
            .unwrap_or(self.default_task_ms)
    }
}
