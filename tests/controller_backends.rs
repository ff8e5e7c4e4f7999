//! ProxmoxCluster and OntapCluster: probing the simulator, Ready with the facts, TLS and credential problems.

mod controller_support;

use controller_support::*;
use kube::api::{Api, Patch, PatchParams};
use pve_ontap_controller::api::{OntapCluster, ProxmoxCluster};
use serde_json::json;

fn ready_status(
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String)> {
    conds
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn wait_cluster<K>(api: &Api<K>, name: &str, pred: impl Fn(&K) -> bool) -> K
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let o = api.get(name).await.unwrap();
        if pred(&o) {
            return o;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached: {}",
            serde_json::to_string_pretty(&o).unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_report_ready_with_facts_and_warn_about_insecure_tls() {
    let h = Harness::start("backends").await;
    let pcs: Api<ProxmoxCluster> = Api::all(h.admin.clone());
    let pc = wait_cluster(&pcs, &h.pve_name, |o| {
        o.status
            .as_ref()
            .and_then(|s| ready_status(&s.conditions))
            .is_some_and(|(st, _)| st == "True")
    })
    .await;
    let st = pc.status.unwrap();
    assert_eq!(st.version.as_deref(), Some("8.4.1"));
    let nodes: Vec<_> = st.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["pve1", "pve2"]);
    assert!(st.conditions.iter().all(|c| c.type_ != "InsecureTLS"));

    let ocs: Api<OntapCluster> = Api::all(h.admin.clone());
    let oc = wait_cluster(&ocs, &h.ontap_name, |o| {
        o.status
            .as_ref()
            .and_then(|s| ready_status(&s.conditions))
            .is_some_and(|(st, _)| st == "True")
    })
    .await;
    let st = oc.status.unwrap();
    assert_eq!(st.cluster_name.as_deref(), Some("sim-cluster"));
    assert_eq!(st.version.as_deref(), Some("9.16.1"));
    assert!(st.svms.iter().any(|s| s.name == "svm1"));

    // Switching verification off works but says so.
    ocs.patch(
        &h.ontap_name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({ "spec": { "insecureSkipTLSVerify": true, "caBundleSecretRef": null } }),
        ),
    )
    .await
    .unwrap();
    let oc = wait_cluster(&ocs, &h.ontap_name, |o| {
        o.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "InsecureTLS" && c.status == "True")
        })
    })
    .await;
    assert_eq!(
        ready_status(&oc.status.unwrap().conditions).unwrap().0,
        "True"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_and_bad_password_are_not_ready() {
    let h = Harness::start("backends-bad").await;
    let ocs: Api<OntapCluster> = Api::all(h.admin.clone());
    // Without the CA bundle the simulator's certificate is not trusted: fail closed.
    ocs.patch(
        &h.ontap_name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "caBundleSecretRef": null } })),
    )
    .await
    .unwrap();
    let oc = wait_cluster(&ocs, &h.ontap_name, |o| {
        o.status
            .as_ref()
            .and_then(|s| ready_status(&s.conditions))
            .is_some_and(|(st, _)| st == "False")
    })
    .await;
    let (_, reason) = ready_status(&oc.status.unwrap().conditions).unwrap();
    assert_eq!(
        reason, "OntapTransient",
        "TLS failures surface as connection errors"
    );

    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(h.admin.clone(), &h.secrets_ns);
    secrets
        .patch(
            &h.pve_secret,
            &PatchParams::default(),
            &Patch::Merge(json!({ "stringData": { "token": "root@pam!ci=wrong" } })),
        )
        .await
        .unwrap();
    let pcs: Api<ProxmoxCluster> = Api::all(h.admin.clone());
    // Secrets raise no watch event for the backend; the periodic probe or the next backoff picks the change up,
    // so touch the object to look right away.
    pcs.patch(
        &h.pve_name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "annotations": { "touch": "1" } } })),
    )
    .await
    .unwrap();
    let pc = wait_cluster(&pcs, &h.pve_name, |o| {
        o.status
            .as_ref()
            .and_then(|s| ready_status(&s.conditions))
            .is_some_and(|(st, r)| st == "False" && r == "ProxmoxUnauthorized")
    })
    .await;
    let msg = pc.status.unwrap().message.unwrap_or_default();
    assert!(!msg.contains("wrong"), "no secret in status: {msg}");
    h.finish().await;
}
