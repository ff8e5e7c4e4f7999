//! Types shared by every kind: references, deletion policy, phase, validation patterns and the finalizer name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind served by this controller.
pub const GROUP: &str = "pveontap.io";
/// API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get pveontap` lists every kind.
pub const CATEGORY: &str = "pveontap";
/// Finalizer placed on namespaced objects so external objects are removed before the Kubernetes object goes.
pub const FINALIZER: &str = "pveontap.io/finalizer";

/// Kubernetes object name (DNS-1123 subdomain).
pub const K8S_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Kubernetes namespace name (DNS-1123 label).
pub const K8S_NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An `allowedNamespaces` entry: a namespace name, or `*` for every namespace.
pub const ALLOWED_NAMESPACE_PATTERN: &str = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$";
/// Secret data key.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// Proxmox storage id (`pve-storage-id`, matched case-insensitively by Proxmox).
pub const PVE_STORAGE_ID_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]$";
/// Proxmox node name (a DNS label).
pub const PVE_NODE_PATTERN: &str = r"^[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?$";
/// Proxmox VM name (`dns-name` format).
pub const PVE_VM_NAME_PATTERN: &str = r"^[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?$";
/// Every Proxmox disk key a clone can be taken of (not `unusedN`, which is no drive).
pub const DRIVE_KEY_PATTERN: &str =
    r"^(ide[0-3]|sata[0-5]|scsi([0-9]|[1-2][0-9]|30)|virtio([0-9]|1[0-5])|efidisk0|tpmstate0)$";
/// ONTAP volume name: starts with a letter or `_`, then letters, digits, `_`; at most 203 characters.
pub const ONTAP_VOLUME_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]{0,202}$";
/// ONTAP SVM name.
pub const ONTAP_SVM_NAME_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,46}$";
/// ONTAP snapshot name: the character set ONTAP and Trident use for their own names; at most 255 characters.
pub const ONTAP_SNAPSHOT_NAME_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$";
/// Junction path of a FlexClone: one component directly under the SVM root, under the controller-owned prefix
/// `/pveontap_fcm_`, so it can neither climb (`..`) nor land under another volume's junction.
pub const JUNCTION_PATH_PATTERN: &str = r"^/pveontap_fcm_[A-Za-z0-9_\-]{1,100}$";
/// A management endpoint URL.
pub const HTTPS_URL_PATTERN: &str = r"^https://[^\s/?#]+(/[^\s?#]*)?$";
/// One allowed NFS mount option.
macro_rules! nfs_option {
    () => {
        "(nfs)?vers=(3|4|4\\.0|4\\.1|4\\.2)|nconnect=([1-9]|1[0-6])|max_connect=([1-9]|[1-9][0-9]|1[01][0-9]|12[0-8])\
         |[rw]size=[0-9]{4,8}|proto=(tcp|tcp6|rdma|rdma6)|timeo=[0-9]{1,6}|retrans=[0-9]{1,3}\
         |(actimeo|acregmin|acregmax|acdirmin|acdirmax)=[0-9]{1,6}|lookupcache=(all|none|pos|positive)\
         |sec=(sys|krb5|krb5i|krb5p)|local_lock=(none|all|flock|posix)\
         |hard|soft|softreval|noatime|nodiratime|relatime|sync|async|ac|noac|lock|nolock|cto|nocto|nosuid|nodev|noexec"
    };
}

/// NFS mount options: a comma-separated list drawn from an allow-list (they reach every Proxmox node as root
/// mount options, so nothing outside the list is passed on). The same pattern is checked at admission and again
/// by the controller.
pub const NFS_OPTIONS_PATTERN: &str = concat!("^(", nfs_option!(), ")(,(", nfs_option!(), "))*$");

/// Text reserved for the controller's ownership markers; user-supplied comments may not contain it.
pub const RESERVED_COMMENT_TEXT: &str = "pveontap.io/";
/// Prefix of the ownership marker written as the last token of ONTAP comments.
pub const OWNER_MARKER_PREFIX: &str = "pveontap.io/owner=";
/// ONTAP's limit for a snapshot comment.
pub const ONTAP_SNAPSHOT_COMMENT_MAX: usize = 255;
/// Longest user comment: ONTAP's limit less the marker (18 + 12 + 1 + 36 characters) and a space.
pub const USER_COMMENT_MAX: usize = 187;

/// Whether `value` matches `pattern`, compiled once into `cell`: the controller checks again what the CRD's
/// patterns check at admission, with the same pattern strings.
fn matches_pattern(cell: &std::sync::OnceLock<regex::Regex>, pattern: &str, value: &str) -> bool {
    cell.get_or_init(|| regex::Regex::new(pattern).expect("valid pattern"))
        .is_match(value)
}

/// Whether `options` passes the NFS option allow-list ([`NFS_OPTIONS_PATTERN`]).
pub fn nfs_options_allowed(options: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    matches_pattern(&RE, NFS_OPTIONS_PATTERN, options)
}

/// Whether `junction` is a FlexClone junction under the controller's prefix ([`JUNCTION_PATH_PATTERN`]).
pub fn junction_allowed(junction: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    matches_pattern(&RE, JUNCTION_PATH_PATTERN, junction)
}

/// Whether a backend's `allowedNamespaces` lets objects in `namespace` use it: only the namespaces listed, or
/// every namespace for `"*"`; an empty list lets none (a backend is opened deliberately).
pub fn namespace_listed(allowed: &[String], namespace: &str) -> bool {
    allowed.iter().any(|n| n == "*" || n == namespace)
}

/// Smallest and largest Proxmox VMID.
pub const VMID_MIN: u32 = 100;
pub const VMID_MAX: u32 = 999_999_999;

/// What happens to the external objects when the Kubernetes object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Remove everything this object created.
    #[default]
    Delete,
    /// Keep the external objects; only the finalizer is removed.
    Retain,
}

/// Coarse life-cycle phase shown by `kubectl get`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    InProgress,
    Ready,
    Failed,
    Deleting,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::InProgress => "InProgress",
            Phase::Ready => "Ready",
            Phase::Failed => "Failed",
            Phase::Deleting => "Deleting",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reference to a cluster-scoped backend object (`ProxmoxCluster` or `OntapCluster`) by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of the `ProxmoxCluster` or `OntapCluster` (whichever kind the field refers to).
    #[schemars(length(min = 1, max = 253), regex(pattern = K8S_NAME_PATTERN))]
    pub name: String,
}

/// Reference to an object of another kind in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the namespace of the object referring to it.
    #[schemars(length(min = 1, max = 253), regex(pattern = K8S_NAME_PATTERN))]
    pub name: String,
}

/// A Secret holding credentials. Backends are cluster-scoped, so the namespace is explicit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = K8S_NAME_PATTERN))]
    pub name: String,
    /// Namespace of the Secret (required: the referring object is cluster-scoped). The controller reads Secrets
    /// only in the namespaces its RBAC grants (the chart's `rbac.secretNamespaces`, default its own namespace).
    #[schemars(length(min = 1, max = 63), regex(pattern = K8S_NAMESPACE_PATTERN))]
    pub namespace: String,
}

/// One key of a Secret, e.g. a PEM CA bundle.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = K8S_NAME_PATTERN))]
    pub name: String,
    /// Namespace of the Secret (required: the referring object is cluster-scoped). The controller reads Secrets
    /// only in the namespaces its RBAC grants (the chart's `rbac.secretNamespaces`, default its own namespace).
    #[schemars(length(min = 1, max = 63), regex(pattern = K8S_NAMESPACE_PATTERN))]
    pub namespace: String,
    /// Key in the Secret's data; defaults to `ca.crt`.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY_PATTERN))]
    pub key: String,
}

/// Secret key of a CA bundle when `caBundleSecretRef.key` is not given.
pub const DEFAULT_CA_KEY: &str = "ca.crt";

fn default_ca_key() -> String {
    DEFAULT_CA_KEY.to_string()
}

/// Secret keys the backends read.
pub mod secret_keys {
    /// Proxmox API token `USER@REALM!ID=SECRET`.
    pub const TOKEN: &str = "token";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
}

/// A VM power or freeze change the controller made and must undo, recorded in status *before* the change so a
/// controller that dies half-way restores the VM on its next reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmRestore {
    /// Proxmox VM id of the VM that was changed.
    pub vmid: u32,
    /// Proxmox node the VM was on when the change was recorded; the undo is requested there.
    pub node: String,
    /// What must be done to bring the VM back to the state it was found in.
    pub action: VmRestoreAction,
    /// When the change was recorded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// How a VM is brought back to the state it was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VmRestoreAction {
    /// Thaw guest file systems (after FsFreeze).
    Thaw,
    /// Resume a paused VM (after Suspend).
    Resume,
    /// Start a VM again (after Hibernate, which resumes from its state file, or Shutdown).
    Start,
}

/// A Proxmox task the controller started and has not yet seen finish. Reconciles wait for a task only a few
/// seconds; a longer one (a clean shutdown, a VM creation) is recorded here and observed again on requeue, so no
/// worker is blocked for minutes and a restarted controller picks the task up where it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmTask {
    /// Proxmox VM id the task acts on (for `CreateVm`, the VM being created).
    pub vmid: u32,
    /// Proxmox node the task runs on.
    pub node: String,
    /// The task's UPID.
    pub upid: String,
    /// Which step of the reconcile the task belongs to.
    pub step: VmTaskStep,
    /// When the task was started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// The step a [`VmTask`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VmTaskStep {
    /// Suspend, hibernate or shut down the source VM for a consistency window (its undo is already in `restore`).
    Quiesce,
    /// Resume or start a VM again (closing a consistency window).
    Restore,
    /// Create the VM of `attach: NewVm`.
    CreateVm,
    /// Start the VM of `attach: NewVm` (`newVm.start`).
    StartVm,
    /// Destroy the VM of `attach: NewVm` on deletion.
    DestroyVm,
}

/// Appends CEL rules (`x-kubernetes-validations`) to a schema; used from `#[schemars(transform = ...)]` so rules can
/// be built from the same constants the code uses.
pub(crate) fn push_validations<'a>(
    schema: &mut schemars::Schema,
    rules: impl IntoIterator<Item = (String, &'a str)>,
) {
    let obj = schema.ensure_object();
    let entry = obj
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let serde_json::Value::Array(list) = entry {
        for (rule, message) in rules {
            list.push(serde_json::json!({ "rule": rule, "message": message }));
        }
    }
}

/// Builds the CEL rule keeping an optional field's presence and value unchanged across updates.
pub(crate) fn immutable_optional_rule(field: &str) -> String {
    format!(
        "has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfs_options_allow_list() {
        for ok in [
            "vers=4.2",
            "vers=4.2,nconnect=4",
            "nfsvers=3,hard,timeo=600,retrans=2",
            "vers=4.1,nconnect=16,max_connect=16,rsize=1048576,wsize=1048576,proto=tcp",
            "soft,noatime",
        ] {
            assert!(nfs_options_allowed(ok), "{ok}");
        }
        for bad in [
            "",
            "vers=4.2,",
            ",vers=4.2",
            "vers=4.2 ,hard",
            "vers=4.2\u{a0}",
            "vers=4.2\u{0}",
            "vers=4.2\u{b}",
            "exec",
            "suid",
            "nconnect=17",
            "vers=4.2,context=system_u:object_r:x",
            "vers=5",
            "vers=4.2,\u{202e}hard",
            "hard,,soft",
        ] {
            assert!(!nfs_options_allowed(bad), "{bad:?}");
        }
    }

    #[test]
    fn namespaces_are_listed_explicitly() {
        assert!(!namespace_listed(&[], "a"));
        assert!(namespace_listed(&["a".into()], "a"));
        assert!(!namespace_listed(&["a".into()], "b"));
        assert!(namespace_listed(&["*".into()], "b"));
    }

    #[test]
    fn immutable_rule_mentions_both_presence_and_value() {
        assert_eq!(
            immutable_optional_rule("storage"),
            "has(self.storage) == has(oldSelf.storage) && (!has(self.storage) || self.storage == oldSelf.storage)"
        );
    }
}
