//! The Helm chart's identity (ServiceAccount + RBAC) on a test control plane, so code under test runs with
//! exactly the permissions a `helm install` grants and a missing rule fails a test.

use std::path::PathBuf;

use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::api::{Api, DynamicObject, PostParams};
use kube::{Client, ResourceExt};

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};
use crate::{manifests, paths};

/// The chart templates that make up the controller's identity and permissions.
pub const RBAC_TEMPLATES: &[&str] = &[
    "templates/serviceaccount.yaml",
    "templates/clusterrole.yaml",
    "templates/clusterrolebinding.yaml",
    "templates/role.yaml",
    "templates/rolebinding.yaml",
];

/// A `helm template` invocation.
#[derive(Debug, Clone)]
pub struct Render {
    pub chart: PathBuf,
    pub release: String,
    pub namespace: String,
    /// `--show-only` templates; empty renders the whole chart.
    pub show_only: Vec<String>,
    /// `--set key=value` pairs.
    pub set: Vec<(String, String)>,
}

impl Render {
    pub fn new(release: &str, namespace: &str) -> Self {
        Render {
            chart: paths::chart_dir(),
            release: release.into(),
            namespace: namespace.into(),
            show_only: Vec::new(),
            set: Vec::new(),
        }
    }

    pub fn show_only(mut self, templates: &[&str]) -> Self {
        self.show_only
            .extend(templates.iter().map(|t| t.to_string()));
        self
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.set.push((key.into(), value.into()));
        self
    }

    /// Runs `helm template` and returns the rendered YAML.
    pub async fn run(&self) -> Result<String> {
        let helm = paths::helm_binary();
        let mut command = tokio::process::Command::new(&helm);
        command
            .arg("template")
            .arg(&self.release)
            .arg(&self.chart)
            .arg("--namespace")
            .arg(&self.namespace)
            // Render for the apiserver the tests run, not helm's built-in default version.
            .arg("--kube-version")
            .arg(paths::pinned_version("KUBE_VERSION").unwrap_or("v1.35.0"));
        for template in &self.show_only {
            command.arg("--show-only").arg(template);
        }
        for (key, value) in &self.set {
            command.arg("--set").arg(format!("{key}={value}"));
        }
        let description = format!(
            "{} template {} {}",
            helm.display(),
            self.release,
            self.chart.display()
        );
        let output = command.output().await.map_err(Error::io(format!(
            "running {description} (run `make provision`)"
        )))?;
        if !output.status.success() {
            return Err(Error::Command {
                command: description,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The chart's ServiceAccount and RBAC as applied to a control plane.
#[derive(Debug, Clone)]
pub struct ChartIdentity {
    pub namespace: String,
    pub service_account: String,
    pub objects: Vec<DynamicObject>,
}

impl ChartIdentity {
    /// Renders the chart's RBAC templates for `release` into `namespace` and applies them as admin.
    /// Cluster-scoped names derive from the release name, so tests sharing a control plane use distinct releases.
    pub async fn install(
        control_plane: &ControlPlane,
        namespace: &str,
        release: &str,
    ) -> Result<Self> {
        Self::install_rendered(
            control_plane,
            Render::new(release, namespace).show_only(RBAC_TEMPLATES),
        )
        .await
    }

    /// Like [`ChartIdentity::install`] with a caller-built render (e.g. non-default values).
    pub async fn install_rendered(control_plane: &ControlPlane, render: Render) -> Result<Self> {
        let yaml = render.run().await?;
        let origin = format!("helm template {}", render.release);
        let objects = manifests::parse_documents(&origin, &yaml)?;
        let service_account = objects
            .iter()
            .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "ServiceAccount"))
            .map(|o| o.name_any())
            .ok_or_else(|| Error::Manifest {
                origin: origin.clone(),
                message: "renders no ServiceAccount".into(),
            })?;
        let admin = control_plane.admin_client().await?;
        let objects = manifests::apply(&admin, &render.namespace, &objects).await?;
        let user = format!(
            "system:serviceaccount:{}:{}",
            render.namespace, service_account
        );
        wait_for_grants(&admin, &user, &objects).await?;
        Ok(ChartIdentity {
            namespace: render.namespace,
            service_account,
            objects,
        })
    }

    /// A client authenticated as the chart's ServiceAccount.
    pub async fn client(&self, control_plane: &ControlPlane) -> Result<Client> {
        control_plane
            .client_as_service_account(&self.namespace, &self.service_account)
            .await
    }

    /// Kubeconfig for the chart's ServiceAccount (for running the controller binary under it).
    pub async fn kubeconfig(&self, control_plane: &ControlPlane) -> Result<String> {
        control_plane
            .service_account_kubeconfig(&self.namespace, &self.service_account)
            .await
    }
}

/// A fresh namespace with the chart's identity installed into it (release named after the namespace, so the
/// cluster-scoped RBAC objects of concurrent tests stay apart), and clients as admin and as the controller.
pub struct Tenant {
    pub namespace: String,
    pub identity: ChartIdentity,
    pub admin: Client,
    /// Authenticated as the chart's ServiceAccount: exactly the controller's permissions.
    pub controller: Client,
}

impl Tenant {
    pub async fn create(control_plane: &ControlPlane, prefix: &str) -> Result<Self> {
        let namespace = control_plane.create_namespace(prefix).await?;
        let identity = ChartIdentity::install(control_plane, &namespace, &namespace).await?;
        Ok(Self {
            admin: control_plane.admin_client().await?,
            controller: identity.client(control_plane).await?,
            identity,
            namespace,
        })
    }
}

/// The apiserver's RBAC authorizer works from an informer cache, so new bindings take effect a moment after
/// they are written. Waits until the first rule of every applied (Cluster)Role is visible to the authorizer, so
/// a test's first request as the ServiceAccount is judged by the chart's rules and not by that delay.
async fn wait_for_grants(admin: &Client, user: &str, objects: &[DynamicObject]) -> Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(30);
    let reviews: Api<SubjectAccessReview> = Api::all(admin.clone());
    for object in objects {
        let Some(kind) = object.types.as_ref().map(|t| t.kind.as_str()) else {
            continue;
        };
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        let Some(rule) = object
            .data
            .get("rules")
            .and_then(|rules| rules.get(0))
            .and_then(|rule| serde_json::from_value::<PolicyRule>(rule.clone()).ok())
        else {
            continue;
        };
        let first = |list: &Option<Vec<String>>| list.as_ref().and_then(|l| l.first().cloned());
        let attributes = ResourceAttributes {
            group: first(&rule.api_groups),
            resource: first(&rule.resources),
            verb: rule.verbs.first().cloned(),
            name: first(&rule.resource_names),
            namespace: if kind == "Role" {
                object.namespace()
            } else {
                None
            },
            ..Default::default()
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_string()),
                groups: Some(vec![
                    "system:serviceaccounts".into(),
                    "system:authenticated".into(),
                ]),
                resource_attributes: Some(attributes),
                ..Default::default()
            },
            ..Default::default()
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let answer = reviews.create(&PostParams::default(), &review).await?;
            if answer.status.is_some_and(|s| s.allowed) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{kind} {} to grant {user}", object.name_any()),
                    seconds: TIMEOUT.as_secs(),
                    details: String::new(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
