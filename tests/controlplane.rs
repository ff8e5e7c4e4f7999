//! Our CRDs and the Helm chart's RBAC on a real kube-apiserver: custom resources round-trip through the client
//! the controller runs with, and that client gets nothing beyond the chart's ClusterRole and Roles.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::Client;
use pve_ontap_controller::api::common::ClusterRef;
use pve_ontap_controller::api::{Phase, VmDiskClone, VmDiskCloneSpec, FINALIZER};
use serde_json::json;
use testkit::{ControlPlane, Tenant};

async fn setup(prefix: &str) -> (&'static ControlPlane, String, Client, Client) {
    let control_plane = testkit::shared().await.expect("control plane");
    let t = Tenant::create(control_plane, prefix).await.expect("tenant");
    (control_plane, t.namespace, t.admin, t.controller)
}

fn vm_disk_clone(name: &str) -> VmDiskClone {
    let spec: VmDiskCloneSpec = serde_json::from_value(json!({
        "proxmoxClusterRef": { "name": "pve-lab" },
        "vmid": 101,
        "disks": ["scsi0"],
        "consistency": "FsFreeze",
    }))
    .expect("valid spec");
    VmDiskClone::new(name, spec)
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

#[tokio::test]
async fn crds_are_installed_from_the_repository() {
    let control_plane = testkit::shared().await.expect("control plane");
    let mut installed = control_plane.installed_crds().to_vec();
    installed.sort();
    let mut expected: Vec<String> = pve_ontap_controller::api::crds()
        .into_iter()
        .map(|(_, crd)| crd.metadata.name.expect("CRD name"))
        .collect();
    expected.sort();
    assert_eq!(installed, expected);
}

#[tokio::test]
async fn custom_resource_round_trips_through_the_controllers_client() {
    let (_, namespace, admin, controller) = setup("roundtrip").await;
    let created = Api::<VmDiskClone>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &vm_disk_clone("web-01-copy"))
        .await
        .expect("create as a user would");

    let clones: Api<VmDiskClone> = Api::namespaced(controller.clone(), &namespace);
    let read = clones
        .get("web-01-copy")
        .await
        .expect("read as the controller");
    assert_eq!(read.spec, created.spec);
    assert_eq!(
        read.spec.proxmox_cluster_ref,
        ClusterRef {
            name: "pve-lab".into()
        }
    );
    assert_eq!(read.spec.vmid, 101);
    assert_eq!(read.metadata.uid, created.metadata.uid);

    // The controller's typical writes: finalizer on the object, phase through the status subresource.
    clones
        .patch(
            "web-01-copy",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": [FINALIZER] } })),
        )
        .await
        .expect("add finalizer");
    let patched = clones
        .patch_status(
            "web-01-copy",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": Phase::InProgress } })),
        )
        .await
        .expect("patch status");
    assert_eq!(patched.status.expect("status").phase, Phase::InProgress);
    // A status write through the main resource is ignored: the status subresource is enabled.
    let ignored = clones
        .patch(
            "web-01-copy",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": "Ready" } })),
        )
        .await
        .expect("patch main resource");
    assert_eq!(ignored.status.expect("status").phase, Phase::InProgress);

    // Deletion waits for the finalizer, which the controller's identity may remove.
    Api::<VmDiskClone>::namespaced(admin, &namespace)
        .delete("web-01-copy", &DeleteParams::default())
        .await
        .expect("delete");
    let deleting = clones.get("web-01-copy").await.expect("still present");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    clones
        .patch(
            "web-01-copy",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .expect("remove finalizer");
    let gone = clones.get("web-01-copy").await.expect_err("deleted");
    assert!(is_status(&gone, 404), "expected 404, got {gone:?}");
}

#[tokio::test]
async fn chart_service_account_is_refused_outside_its_cluster_role() {
    let (control_plane, namespace, _admin, controller) = setup("rbac").await;
    let other = control_plane
        .create_namespace("rbac-other")
        .await
        .expect("namespace");

    // Inside the role: our kinds everywhere, Secrets get-only in the release namespace (a missing one answers 404,
    // not 403), the kube-system namespace (cluster id), Leases in its own namespace.
    Api::<VmDiskClone>::all(controller.clone())
        .list(&ListParams::default())
        .await
        .expect("list our kinds");
    let missing = Api::<Secret>::namespaced(controller.clone(), &namespace)
        .get("no-such-secret")
        .await
        .expect_err("no such Secret");
    assert!(
        is_status(&missing, 404),
        "get a Secret in the release namespace: {missing:?}"
    );
    let namespaces: Api<Namespace> = Api::all(controller.clone());
    namespaces
        .get("kube-system")
        .await
        .expect("read the cluster id");
    let crds: Api<CustomResourceDefinition> = Api::all(controller.clone());
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("pve-ontap-controller".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Lease>::namespaced(controller.clone(), &namespace)
        .create(&PostParams::default(), &lease)
        .await
        .expect("leader election Lease in the release namespace");

    // Outside it: every one of these must be refused with 403.
    let refused = [
        (
            "list Pods",
            Api::<Pod>::namespaced(controller.clone(), &namespace)
                .list(&ListParams::default())
                .await
                .err(),
        ),
        (
            "create a Secret",
            Api::<Secret>::namespaced(controller.clone(), &namespace)
                .create(
                    &PostParams::default(),
                    &Secret {
                        metadata: ObjectMeta {
                            name: Some("stolen".into()),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await
                .err(),
        ),
        (
            "list Secrets",
            Api::<Secret>::namespaced(controller.clone(), &namespace)
                .list(&ListParams::default())
                .await
                .err(),
        ),
        (
            "read a Secret in another namespace",
            Api::<Secret>::namespaced(controller.clone(), &other)
                .get("anything")
                .await
                .err(),
        ),
        (
            "delete a CRD",
            crds.delete("vmdiskclones.pveontap.io", &DeleteParams::default())
                .await
                .err(),
        ),
        ("list CRDs", crds.list(&ListParams::default()).await.err()),
        (
            "read another Namespace",
            namespaces.get(&namespace).await.err(),
        ),
        (
            "create a VmDiskClone",
            Api::<VmDiskClone>::namespaced(controller.clone(), &namespace)
                .create(&PostParams::default(), &vm_disk_clone("by-controller"))
                .await
                .err(),
        ),
        (
            "create a Lease in another namespace",
            Api::<Lease>::namespaced(controller.clone(), &other)
                .create(&PostParams::default(), &lease)
                .await
                .err(),
        ),
    ];
    for (what, error) in refused {
        let error =
            error.unwrap_or_else(|| panic!("{what}: allowed, but the chart must not grant it"));
        assert!(
            is_status(&error, 403),
            "{what}: expected 403 Forbidden, got {error:?}"
        );
    }
}
