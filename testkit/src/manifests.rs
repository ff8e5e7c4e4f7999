//! Applying YAML manifests (CRDs, rendered chart templates, examples) with server-side apply.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};

use crate::error::{Error, Result};

pub const FIELD_MANAGER: &str = "testkit";

/// The non-empty documents of a (multi-document) YAML text.
pub fn yaml_documents(origin: &str, text: &str) -> Result<Vec<serde_yaml::Value>> {
    use serde::Deserialize;
    let mut values = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|source| Error::Yaml {
            origin: origin.to_string(),
            source,
        })?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// Parses every non-empty document of a YAML text into an object carrying apiVersion/kind.
pub fn parse_documents(origin: &str, text: &str) -> Result<Vec<DynamicObject>> {
    yaml_documents(origin, text)?
        .into_iter()
        .map(|value| {
            let object: DynamicObject =
                serde_yaml::from_value(value).map_err(|source| Error::Yaml {
                    origin: origin.to_string(),
                    source,
                })?;
            if object.types.is_none() {
                return Err(Error::Manifest {
                    origin: origin.into(),
                    message: "document without apiVersion/kind".into(),
                });
            }
            Ok(object)
        })
        .collect()
}

/// Server-side applies each object; namespaced objects without a namespace go to `default_namespace`.
pub async fn apply(
    client: &Client,
    default_namespace: &str,
    objects: &[DynamicObject],
) -> Result<Vec<DynamicObject>> {
    let mut applied = Vec::with_capacity(objects.len());
    for object in objects {
        let types = object.types.as_ref().expect("checked by parse_documents");
        let gvk = GroupVersionKind::try_from(types).map_err(|e| Error::Manifest {
            origin: object.name_any(),
            message: e.to_string(),
        })?;
        let (resource, capabilities) = discovery::pinned_kind(client, &gvk).await?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => {
                let namespace = object
                    .namespace()
                    .unwrap_or_else(|| default_namespace.to_string());
                Api::namespaced_with(client.clone(), &namespace, &resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        applied.push(
            api.patch(&object.name_any(), &params, &Patch::Apply(object))
                .await?,
        );
    }
    Ok(applied)
}

/// Parses and applies a YAML text.
pub async fn apply_yaml(
    client: &Client,
    default_namespace: &str,
    origin: &str,
    text: &str,
) -> Result<Vec<DynamicObject>> {
    apply(client, default_namespace, &parse_documents(origin, text)?).await
}

/// Installs every `*.yaml`/`*.yml` CRD of `dir` and waits until each is Established. A missing directory
/// installs nothing, so the kit stays usable before any CRD exists.
pub async fn install_crds(client: &Client, dir: &Path, timeout: Duration) -> Result<Vec<String>> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()))(e)),
    };
    files.sort();

    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for file in &files {
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(Error::io(format!("reading {origin}")))?;
        for value in yaml_documents(&origin, &text)? {
            let crd: CustomResourceDefinition =
                serde_yaml::from_value(value).map_err(|source| Error::Yaml {
                    origin: origin.clone(),
                    source,
                })?;
            let name = crd.name_any();
            api.patch(&name, &params, &Patch::Apply(&crd)).await?;
            names.push(name);
        }
    }
    for name in &names {
        let established = await_condition(api.clone(), name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, established).await {
            Ok(result) => {
                result.map_err(|e| Error::Manifest {
                    origin: name.clone(),
                    message: e.to_string(),
                })?;
            }
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("CustomResourceDefinition {name} to be Established"),
                    seconds: timeout.as_secs(),
                    details: String::new(),
                })
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_document_and_skips_empty_ones() {
        let text = "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\n# only a comment\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: b\nrules: []\n";
        let objects = parse_documents("inline", text).expect("valid YAML");
        let kinds: Vec<_> = objects
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.as_str())
            .collect();
        assert_eq!(kinds, ["ServiceAccount", "ClusterRole"]);
        assert_eq!(objects[1].name_any(), "b");
        assert!(objects[1].data.get("rules").is_some());
    }

    #[test]
    fn rejects_documents_without_a_kind() {
        let error =
            parse_documents("inline", "metadata:\n  name: a\n").expect_err("no apiVersion/kind");
        assert!(
            matches!(error, Error::Manifest { .. } | Error::Yaml { .. }),
            "{error}"
        );
    }

    #[test]
    fn reports_the_origin_of_invalid_yaml() {
        let error = parse_documents("charts/x.yaml", "kind: [unclosed").expect_err("invalid");
        assert!(error.to_string().contains("charts/x.yaml"), "{error}");
    }
}
