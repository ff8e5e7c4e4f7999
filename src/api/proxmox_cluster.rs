//! `ProxmoxCluster`: a Proxmox VE cluster the namespaced kinds may use.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ClusterRef, SecretKeyRef, SecretRef, ALLOWED_NAMESPACE_PATTERN, HTTPS_URL_PATTERN,
    ONTAP_SVM_NAME_PATTERN, ONTAP_VOLUME_NAME_PATTERN, PVE_STORAGE_ID_PATTERN,
};

/// A Proxmox VE cluster reached through its API. Credentials come from a Secret with either `token`
/// (`USER@REALM!ID=SECRET`) or `username` + `password`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "ProxmoxCluster",
    doc = "A Proxmox VE cluster the namespaced kinds of pveontap.io may use.",
    plural = "proxmoxclusters",
    shortname = "pxc",
    category = "pveontap",
    status = "ProxmoxClusterStatus",
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".spec.endpoints[0]"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxClusterSpec {
    /// API endpoints (`https://host:port`), tried in order; the next one is used when one cannot be reached.
    #[schemars(length(min = 1, max = 16), inner(length(max = 2048), regex(pattern = HTTPS_URL_PATTERN)))]
    pub endpoints: Vec<String>,
    /// Secret with `token`, or `username` and `password`.
    pub credentials_secret_ref: SecretRef,
    /// Secret key holding the PEM CA bundle that signs the API certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_secret_ref: Option<SecretKeyRef>,
    /// Skip TLS verification. Only for tests; the object then carries an `InsecureTLS` warning condition.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Namespaces whose objects may use this cluster; `"*"` means every namespace, empty means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63), regex(pattern = ALLOWED_NAMESPACE_PATTERN)))]
    pub allowed_namespaces: Vec<String>,
    /// What each namespace may act on (VMs, VM id ranges and storages). Absent: every allowed namespace may act on the whole
    /// cluster. Present: a namespace acts only inside the scopes naming it, and one no scope names acts on nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub scopes: Vec<super::scope::ProxmoxScope>,
    /// Proxmox storages pinned to an ONTAP volume, for sites where matching the storage's `server` and
    /// `export` against data LIFs and junction paths cannot work (NAT, a name no resolver here knows, an export
    /// reached through a path ONTAP does not report). A pinned storage is never matched automatically; the
    /// OntapCluster must still let the object's namespace use it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["storage"]))]
    pub storage_mappings: Vec<StorageMapping>,
}

/// One Proxmox storage and the ONTAP volume that serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageMapping {
    /// Proxmox storage id, e.g. `ONTAP01`.
    #[schemars(length(min = 2, max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN))]
    pub storage: String,
    /// The OntapCluster serving it.
    pub ontap_cluster_ref: ClusterRef,
    /// The SVM of the volume.
    #[schemars(length(min = 1, max = 47), regex(pattern = ONTAP_SVM_NAME_PATTERN))]
    pub svm: String,
    /// The ONTAP volume.
    #[schemars(length(min = 1, max = 203), regex(pattern = ONTAP_VOLUME_NAME_PATTERN))]
    pub volume: String,
    /// Directory of the storage root inside the volume; default: the export's path below the volume's
    /// junction, or the volume root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^[^/].*[^/]$|^[^/]$"))]
    pub subdir: Option<String>,
}

/// Written by the controller: what the last probe of the cluster (with the Secret's credentials) found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxClusterStatus {
    /// The `metadata.generation` the last probe was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the last probe of the API with the Secret's credentials succeeded: reason `Connected`, or the
    /// failure's category) and `InsecureTLS` (present while `insecureSkipTLSVerify` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Proxmox VE version (`GET /version`), e.g. `9.0.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The endpoint that answered last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Cluster nodes and their state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<ProxmoxNodeStatus>,
    /// Human-readable summary of the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxNodeStatus {
    /// Node name, as Proxmox lists it under `/nodes`.
    pub name: String,
    /// `online`, `offline` or `unknown`, as Proxmox reports it.
    pub status: String,
}

impl ProxmoxClusterSpec {
    /// Whether objects in `namespace` may use this cluster.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        super::common::namespace_listed(&self.allowed_namespaces, namespace)
    }
}
