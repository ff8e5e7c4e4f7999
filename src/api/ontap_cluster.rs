//! `OntapCluster`: an ONTAP cluster (or SVM management endpoint) the namespaced kinds may use.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{SecretKeyRef, SecretRef, ALLOWED_NAMESPACE_PATTERN, HTTPS_URL_PATTERN};

/// An ONTAP cluster reached through its REST API with HTTP basic auth (Secret keys `username`, `password`).
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "OntapCluster",
    doc = "An ONTAP cluster whose NFS volumes back Proxmox storages.",
    plural = "ontapclusters",
    shortname = "otc",
    category = "pveontap",
    status = "OntapClusterStatus",
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".spec.endpoint"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".status.clusterName"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct OntapClusterSpec {
    /// Management endpoint, e.g. `https://cluster1.example.com`.
    #[schemars(length(max = 2048), regex(pattern = HTTPS_URL_PATTERN))]
    pub endpoint: String,
    /// Secret with `username` and `password`.
    pub credentials_secret_ref: SecretRef,
    /// Secret key holding the PEM CA bundle that signs the management certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_secret_ref: Option<SecretKeyRef>,
    /// Skip TLS verification. Only for tests; the object then carries an `InsecureTLS` warning condition.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Namespaces whose objects may use this cluster; `"*"` means every namespace, empty means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63), regex(pattern = ALLOWED_NAMESPACE_PATTERN)))]
    pub allowed_namespaces: Vec<String>,
    /// What each namespace may act on (SVMs and volumes). Absent: every allowed namespace may act on the whole
    /// cluster. Present: a namespace acts only inside the scopes naming it, and one no scope names acts on nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub scopes: Vec<super::scope::OntapScope>,
    /// Let objects that adopted a snapshot (`existingSnapshotName`) delete it with `deletionPolicy: Delete`.
    /// Off by default: an adopted snapshot was made by someone else (a schedule, Trident, a person) and is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_delete_adopted: bool,
}

/// Written by the controller: what the last probe of the cluster (with the Secret's credentials) found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OntapClusterStatus {
    /// The `metadata.generation` the last probe was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the last probe of the REST API with the Secret's credentials succeeded: reason `Connected`, or
    /// the failure's category) and `InsecureTLS` (present while `insecureSkipTLSVerify` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Cluster name as ONTAP reports it (`GET /api/cluster`); kept from the last successful probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster UUID as ONTAP reports it (`GET /api/cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uuid: Option<String>,
    /// `generation.major.minor`, e.g. `9.14.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The SVMs the credentials can see (`GET /api/svm/svms`), as of the last successful probe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub svms: Vec<OntapSvmStatus>,
    /// Human-readable summary of the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OntapSvmStatus {
    /// SVM name, as `svm` fields elsewhere name it.
    pub name: String,
    /// SVM UUID.
    pub uuid: String,
    /// SVM state as ONTAP reports it (`running`, `stopped`, `starting`, `stopping`, ...); absent when ONTAP
    /// does not report one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl OntapClusterSpec {
    /// Whether objects in `namespace` may use this cluster.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        super::common::namespace_listed(&self.allowed_namespaces, namespace)
    }
}
