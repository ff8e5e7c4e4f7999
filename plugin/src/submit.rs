//! Creating and deleting objects the way every command does: `-o yaml|json` prints the manifest instead of
//! applying it, `--dry-run=server` asks the apiserver to check it without storing it, and `--wait` follows it.

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::cli::Output;
use crate::context::{api_error, fail, Ctx};
use crate::follow::{self, follow};

/// Field manager of every object this plugin writes.
pub const FIELD_MANAGER: &str = "kubectl-pveontap";

pub trait Kind:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
{
}

impl<K> Kind for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
{
}

/// Prints objects as YAML (documents separated by `---`) or JSON (one array when several).
pub fn print_objects(output: Output, objects: &[Value]) -> anyhow::Result<()> {
    let clean: Vec<Value> = objects.iter().map(without_noise).collect();
    match output {
        Output::Yaml => {
            for (i, o) in clean.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", serde_yaml::to_string(o)?);
            }
        }
        Output::Json => {
            let doc = match clean.as_slice() {
                [one] => one.clone(),
                many => Value::Array(many.to_vec()),
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}

/// `managedFields` say nothing to a reader of a manifest.
fn without_noise(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// Creates `obj` (or only prints it, or dry-runs it); `Some` with the stored object when it was really created.
pub async fn create<K: Kind>(ctx: &Ctx, obj: &K) -> anyhow::Result<Option<K>> {
    let kind = K::kind(&());
    let name = obj.name_any();
    let server_dry_run = ctx.global.server_dry_run();
    if let (Some(output), false) = (ctx.global.output, server_dry_run) {
        print_objects(output, &[serde_json::to_value(obj)?])?;
        return Ok(None);
    }
    let params = PostParams {
        dry_run: server_dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let created = ctx.api::<K>().create(&params, obj).await.map_err(|e| {
        api_error(
            &format!("creating {kind} {name} in namespace {}", ctx.namespace),
            e,
        )
    })?;
    if server_dry_run {
        match ctx.global.output {
            Some(output) => print_objects(output, &[serde_json::to_value(&created)?])?,
            None => println!("{}/{name} created (server dry run)", kind.to_lowercase()),
        }
        return Ok(None);
    }
    println!("{}/{name} created", kind.to_lowercase());
    Ok(Some(created))
}

/// Creates `obj` and, with `--wait`, follows it until Ready; exits non-zero with its condition when it fails.
pub async fn create_and_follow<K: Kind>(ctx: &Ctx, obj: &K) -> anyhow::Result<Option<Value>> {
    let Some(created) = create(ctx, obj).await? else {
        return Ok(None);
    };
    if !ctx.global.wait() {
        return Ok(None);
    }
    let kind = K::kind(&());
    let name = created.name_any();
    let last = follow::<K>(ctx, &name, follow::until_ready(&kind, &name)).await?;
    println!("{}/{name} is Ready", kind.to_lowercase());
    Ok(last)
}

/// Deletes object `name` and, with `--wait`, follows it until gone (showing why deletion is blocked, if it is).
pub async fn delete<K: Kind>(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let kind = K::kind(&());
    let params = DeleteParams {
        dry_run: ctx.global.server_dry_run(),
        ..Default::default()
    };
    match ctx.api::<K>().delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(fail(format!(
                "{kind} {name} does not exist in namespace {}",
                ctx.namespace
            )))
        }
        Err(e) => return Err(api_error(&format!("deleting {kind} {name}"), e)),
    }
    if ctx.global.server_dry_run() {
        println!("{}/{name} deleted (server dry run)", kind.to_lowercase());
        return Ok(());
    }
    if !ctx.global.wait() {
        println!("{}/{name} deletion requested", kind.to_lowercase());
        return Ok(());
    }
    follow::<K>(ctx, name, follow::until_gone).await?;
    println!("{}/{name} deleted", kind.to_lowercase());
    Ok(())
}
