//! The `ontap:` section of a scenario and the ONTAP timings.

use serde::{Deserialize, Serialize};

use crate::scenario::Size;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OntapScenario {
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Accounts accepted by HTTP basic auth.
    #[serde(default = "default_users")]
    pub users: Vec<UserSpec>,
    /// REST roles users may name as `role` (`security login rest-role`), besides `admin` and `readonly`.
    #[serde(default)]
    pub rest_roles: Vec<super::roles::RestRole>,
    /// How long deleted volumes stay in the volume recovery queue (ONTAP's default is 12 hours).
    #[serde(default = "default_retention")]
    pub volume_recovery_retention_hours: u64,
    #[serde(default = "default_aggregates")]
    pub aggregates: Vec<AggregateSpec>,
    #[serde(default)]
    pub svms: Vec<SvmSpec>,
    /// Extra, generated volumes for scale tests (`gen_vol_00001`, … in the first SVM, unmounted, empty).
    #[serde(default)]
    pub generate_volumes: usize,
}

impl Default for OntapScenario {
    fn default() -> Self {
        OntapScenario {
            cluster: ClusterSpec::default(),
            users: default_users(),
            rest_roles: Vec::new(),
            volume_recovery_retention_hours: default_retention(),
            aggregates: default_aggregates(),
            svms: Vec::new(),
            generate_volumes: 0,
        }
    }
}

fn default_users() -> Vec<UserSpec> {
    vec![UserSpec {
        username: "admin".into(),
        password: "netapp123".into(),
        role: default_role(),
    }]
}

fn default_retention() -> u64 {
    12
}

fn default_aggregates() -> Vec<AggregateSpec> {
    vec![AggregateSpec {
        name: "aggr1".into(),
        size: Size(100 << 40),
    }]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default = "default_cluster_name")]
    pub name: String,
    /// `generation.major.minor`, e.g. `9.16.1`.
    #[serde(default = "default_version")]
    pub version: String,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: default_cluster_name(),
            version: default_version(),
        }
    }
}

fn default_cluster_name() -> String {
    "sim-cluster".into()
}
fn default_version() -> String {
    "9.16.1".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub username: String,
    pub password: String,
    /// `admin` (everything), `readonly` (GET only) or the name of one of `rest_roles`; refused requests get
    /// 403, code 6.
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "admin".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    pub name: String,
    pub size: Size,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvmSpec {
    pub name: String,
    #[serde(default)]
    pub interfaces: Vec<InterfaceSpec>,
    #[serde(default = "default_policies")]
    pub export_policies: Vec<ExportPolicySpec>,
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
}

fn default_policies() -> Vec<ExportPolicySpec> {
    vec![ExportPolicySpec {
        name: "default".into(),
        rules: Vec::new(),
    }]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    pub name: String,
    pub ip: String,
    #[serde(default = "default_netmask")]
    pub netmask: String,
    #[serde(default = "default_services")]
    pub services: Vec<String>,
    #[serde(default = "default_true")]
    pub up: bool,
}

fn default_netmask() -> String {
    "255.255.255.0".into()
}
fn default_services() -> Vec<String> {
    vec!["data_core".into(), "data_nfs".into()]
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportPolicySpec {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<ExportRuleSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRuleSpec {
    pub clients: Vec<String>,
    #[serde(default = "default_any")]
    pub protocols: Vec<String>,
    #[serde(default = "default_sys")]
    pub ro_rule: Vec<String>,
    #[serde(default = "default_sys")]
    pub rw_rule: Vec<String>,
    #[serde(default = "default_sys")]
    pub superuser: Vec<String>,
}

fn default_any() -> Vec<String> {
    vec!["any".into()]
}
fn default_sys() -> Vec<String> {
    vec!["sys".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    pub name: String,
    #[serde(default = "default_volume_size")]
    pub size: Size,
    /// Junction path; absent = not mounted.
    #[serde(default)]
    pub nas_path: Option<String>,
    #[serde(default = "default_policy_name")]
    pub export_policy: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// `online`, `offline` or `restricted`.
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub aggregate: Option<String>,
    /// Directories (created with their parents).
    #[serde(default)]
    pub directories: Vec<String>,
    /// Files (their parent directories are created as needed).
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Snapshots, taken in order after the files above exist.
    #[serde(default)]
    pub snapshots: Vec<SnapshotSpec>,
}

fn default_volume_size() -> Size {
    Size(100 << 30)
}
fn default_policy_name() -> String {
    "default".into()
}
fn default_state() -> String {
    "online".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    pub size: Size,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Durations of ONTAP jobs. Small defaults keep tests quick; a demo may raise them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OntapTimings {
    /// Time a job stays `queued`.
    pub job_queued_ms: u64,
    /// Time a job stays `running` (volume create/patch/delete, snapshot create/delete, restore).
    pub job_running_ms: u64,
    /// Running time of a file clone job.
    pub file_clone_ms: u64,
    /// Running time of a FlexClone create job.
    pub flexclone_ms: u64,
    /// Time a FlexClone split takes after `clone.split_initiated: true`.
    pub clone_split_ms: u64,
    /// How long finished jobs stay visible (ONTAP: 300 s).
    pub job_retention_secs: u64,
}

impl Default for OntapTimings {
    fn default() -> Self {
        OntapTimings {
            job_queued_ms: 20,
            job_running_ms: 80,
            file_clone_ms: 120,
            flexclone_ms: 150,
            clone_split_ms: 200,
            job_retention_secs: 300,
        }
    }
}
