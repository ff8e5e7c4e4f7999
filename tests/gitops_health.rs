//! GitOps health of real objects: the status the controller writes is read the way kstatus (Flux, cli-utils,
//! `kubectl wait`) and Argo CD read it. kstatus's generic rules are coded here from its documentation
//! (sigs.k8s.io/cli-utils/pkg/kstatus); Argo CD's side is deploy/gitops/health.lua run in a Lua 5.1 interpreter
//! (Argo CD's gopher-lua speaks 5.1) against the objects exactly as the apiserver returns them.

mod controller_support;

use controller_support::*;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::Resource;
use mlua::serde::{LuaSerdeExt, SerializeOptions};
use mlua::Lua;
use pve_ontap_controller::api::{
    FlexCloneMount, OntapCluster, Phase, ProxmoxCluster, VmDiskClone, VolumeSnapshot,
};
use serde_json::{json, Value};

/// kstatus's status of an object with no type-specific rules (every CRD), as its README defines it.
fn kstatus(o: &Value) -> &'static str {
    if !o["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating";
    }
    let generation = o["metadata"]["generation"].as_i64();
    if let Some(observed) = o["status"]["observedGeneration"].as_i64() {
        if Some(observed) != generation {
            return "InProgress";
        }
    }
    let true_condition = |t: &str| {
        o["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if true_condition("Reconciling") {
        return "InProgress";
    }
    if true_condition("Stalled") {
        return "Failed";
    }
    "Current"
}

fn script() -> String {
    std::fs::read_to_string(testkit::paths::workspace_root().join("deploy/gitops/health.lua"))
        .expect("deploy/gitops/health.lua")
}

/// Argo CD's health (status, message) of `o` by deploy/gitops/health.lua.
fn argo(o: &Value) -> (String, String) {
    let lua = Lua::new();
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let obj = lua.to_value_with(o, options).expect("object as Lua");
    lua.globals().set("obj", obj).unwrap();
    let hs: mlua::Table = lua.load(script()).eval().expect("health.lua runs");
    (hs.get("status").unwrap(), hs.get("message").unwrap())
}

async fn raw<K>(h: &Harness, name: &str) -> Value
where
    K: Resource<DynamicType = ()>,
{
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> =
        if K::kind(&()) == "ProxmoxCluster" || K::kind(&()) == "OntapCluster" {
            Api::all_with(h.admin.clone(), &ar)
        } else {
            Api::namespaced_with(h.admin.clone(), &h.ns, &ar)
        };
    serde_json::to_value(api.get(name).await.expect("get")).unwrap()
}

/// The raw object once the controller's Ready condition is True for its generation (backends are probed
/// asynchronously after the harness starts).
async fn raw_ready<K>(h: &Harness, name: &str) -> Value
where
    K: Resource<DynamicType = ()>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let o = raw::<K>(h, name).await;
        let ready = o["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready && o["status"]["observedGeneration"] == o["metadata"]["generation"] {
            return o;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} not Ready: {o:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[track_caller]
fn assert_health(o: &Value, kstatus_want: &str, argo_want: &str) {
    let (status, message) = argo(o);
    let pretty = serde_json::to_string_pretty(&o["status"]).unwrap();
    assert_eq!(kstatus(o), kstatus_want, "kstatus of\n{pretty}");
    assert_eq!(
        status, argo_want,
        "Argo CD health of\n{pretty}\nmessage {message:?}"
    );
    assert!(!message.is_empty(), "Argo CD shows a message for\n{pretty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reads_as_kstatus_and_argo_cd_expect() {
    let mut h = Harness::start("gitops").await;

    for backend in [
        raw_ready::<ProxmoxCluster>(&h, &h.pve_name).await,
        raw_ready::<OntapCluster>(&h, &h.ontap_name).await,
    ] {
        assert_health(&backend, "Current", "Healthy");
    }

    // Ready, then a spec change the controller has not seen yet, then seen.
    h.take_snapshot(VolumeSnapshotBuilder::new(&h.pve_name, "snap").build())
        .await;
    let ready = raw::<VolumeSnapshot>(&h, "snap").await;
    assert_health(&ready, "Current", "Healthy");
    h.stop_controller().await;
    h.patch_spec::<VolumeSnapshot>("snap", json!({ "comment": "edited" }))
        .await;
    let unseen = raw::<VolumeSnapshot>(&h, "snap").await;
    assert_health(&unseen, "InProgress", "Progressing");
    h.start_controller();
    let seen = h
        .wait_for::<VolumeSnapshot>("snap", |o| {
            is_ready(o) && o.status.as_ref().unwrap().observed_generation == o.meta().generation
        })
        .await;
    assert_eq!(phase_of(&seen), Phase::Ready);
    assert_health(
        &raw::<VolumeSnapshot>(&h, "snap").await,
        "Current",
        "Healthy",
    );

    // Waiting on something that does not exist yet: in progress, not failed.
    h.create_wait_for::<FlexCloneMount>(
        FlexCloneMountBuilder::of_snapshot("not-yet", "mount").build(),
        |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == o.meta().generation)
        },
    )
    .await;
    assert_health(
        &raw::<FlexCloneMount>(&h, "mount").await,
        "InProgress",
        "Progressing",
    );

    // A permanent failure waits for a spec change: Stalled, Degraded, and the message says why.
    h.create_phase::<VmDiskClone>(
        VmDiskCloneBuilder::new(&h.pve_name, "no-vm")
            .vmid(4242)
            .build(),
        Phase::Failed,
    )
    .await;
    let failed = raw::<VmDiskClone>(&h, "no-vm").await;
    assert_health(&failed, "Failed", "Degraded");
    assert!(argo(&failed).1.contains("4242"), "{:?}", argo(&failed));

    h.delete_and_wait::<FlexCloneMount>("mount").await;
    h.delete_and_wait::<VmDiskClone>("no-vm").await;
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// What users merge into argocd-cm is health.lua itself, once per kind, for every kind the CRDs define.
#[test]
fn argocd_cm_patch_carries_the_script_for_every_kind() {
    let root = testkit::paths::workspace_root();
    let patch: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("deploy/gitops/argocd-cm-health.yaml")).unwrap(),
    )
    .unwrap();
    let data = patch["data"].as_object().expect("data");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(root.join("crds")).unwrap() {
        let crd: Value =
            serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        kinds.push(format!(
            "resource.customizations.health.{}_{}",
            crd["spec"]["group"].as_str().unwrap(),
            crd["spec"]["names"]["kind"].as_str().unwrap()
        ));
    }
    kinds.sort();
    let mut keys: Vec<_> = data.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, kinds, "one health check per CRD kind");
    for (key, body) in data {
        assert_eq!(
            body.as_str().unwrap(),
            script(),
            "{key} is not deploy/gitops/health.lua"
        );
    }
}

/// The script's branches on status shapes a test run does not produce on demand.
#[test]
fn script_handles_missing_and_partial_status() {
    let meta = json!({ "name": "x", "generation": 2 });
    assert_eq!(argo(&json!({ "metadata": meta })).0, "Progressing");
    let no_observed = json!({ "metadata": meta, "status": { "conditions": [] } });
    assert_eq!(argo(&no_observed).0, "Progressing");
    let retrying = json!({ "metadata": meta, "status": { "observedGeneration": 2, "conditions": [
        { "type": "Ready", "status": "False", "reason": "Backend", "message": "ONTAP unreachable, retrying" },
    ] } });
    assert_eq!(
        argo(&retrying),
        ("Progressing".into(), "ONTAP unreachable, retrying".into())
    );
    assert_eq!(
        kstatus(&retrying),
        "Current",
        "kstatus reads no Ready condition"
    );
}
