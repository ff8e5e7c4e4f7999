//! The CRDs against a real kube-apiserver: they install and become Established, the schema and CEL rules reject
//! bad specs with the expected reason, good specs are accepted, and source identities are immutable.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::CustomResourceExt;
use kube::Client;
use serde_json::{json, Value};

use pve_ontap_controller::api::{
    self, FlexCloneMount, OntapCluster, ProxmoxCluster, VmDiskClone, VolumeSnapshot,
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Vdc,
    Ovs,
    Fcm,
    Pxc,
    Otc,
}

impl Kind {
    fn resource(self) -> ApiResource {
        match self {
            Kind::Vdc => ApiResource::erase::<VmDiskClone>(&()),
            Kind::Ovs => ApiResource::erase::<VolumeSnapshot>(&()),
            Kind::Fcm => ApiResource::erase::<FlexCloneMount>(&()),
            Kind::Pxc => ApiResource::erase::<ProxmoxCluster>(&()),
            Kind::Otc => ApiResource::erase::<OntapCluster>(&()),
        }
    }

    fn namespaced(self) -> bool {
        matches!(self, Kind::Vdc | Kind::Ovs | Kind::Fcm)
    }

    fn api(self, client: &Client, namespace: &str) -> Api<DynamicObject> {
        let ar = self.resource();
        if self.namespaced() {
            Api::namespaced_with(client.clone(), namespace, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        }
    }

    fn object(self, name: &str, spec: Value) -> DynamicObject {
        let ar = self.resource();
        serde_json::from_value(json!({
            "apiVersion": ar.api_version,
            "kind": ar.kind,
            "metadata": {"name": name},
            "spec": spec,
        }))
        .expect("valid object")
    }
}

fn vdc() -> Value {
    json!({"proxmoxClusterRef": {"name": "pve"}, "vmid": 100})
}

fn ovs() -> Value {
    json!({"proxmoxClusterRef": {"name": "pve"}, "storage": "ONTAP01"})
}

fn ovs_direct() -> Value {
    json!({"ontapVolume": {"ontapClusterRef": {"name": "ontap1"}, "svm": "svm1", "name": "pve_data"}})
}

fn fcm() -> Value {
    json!({"volumeSnapshotRef": {"name": "snap-1"}})
}

fn fcm_source() -> Value {
    json!({"source": {"proxmoxClusterRef": {"name": "pve"}, "storage": "ONTAP01", "snapshotName": "hourly.2026-11-21_0005"}})
}

fn pxc() -> Value {
    json!({
        "endpoints": ["https://127.0.0.1:8006", "https://pve2.example.com:8006"],
        "credentialsSecretRef": {"name": "pve-creds", "namespace": "pveontap-system"}
    })
}

fn otc() -> Value {
    json!({
        "endpoint": "https://127.0.0.1:8443",
        "credentialsSecretRef": {"name": "ontap-creds", "namespace": "pveontap-system"},
        "caBundleSecretRef": {"name": "ontap-ca", "namespace": "pveontap-system"}
    })
}

/// `base` with `patch` merged in (JSON merge patch semantics: `null` removes a key).
fn with(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

async fn setup() -> (Client, String) {
    let cp = testkit::shared().await.expect("control plane");
    let ns = cp.create_namespace("api-schema").await.expect("namespace");
    (cp.admin_client().await.expect("client"), ns)
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

fn error_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => panic!("expected an API rejection, got {other}"),
    }
}

#[test]
fn crds_on_disk_are_generated_from_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (file, crd) in api::crds() {
        let expected = api::crd_yaml(&crd).unwrap();
        let actual = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            actual == expected,
            "crds/{file} is stale: run `cargo run --bin crdgen -- crds/`"
        );
    }
}

#[tokio::test]
async fn every_crd_is_installed_and_established() {
    let cp = testkit::shared().await.expect("control plane");
    let client = cp.admin_client().await.unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client);
    for crd in [
        VmDiskClone::crd(),
        VolumeSnapshot::crd(),
        FlexCloneMount::crd(),
        ProxmoxCluster::crd(),
        OntapCluster::crd(),
    ] {
        let name = crd.metadata.name.clone().unwrap();
        // Server-side apply of the generated CRD must be accepted as is (structural schema, valid CEL).
        crds.patch(
            &name,
            &PatchParams::apply("api-schema-test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("{name} rejected: {e}"));
        let live = crds.get(&name).await.unwrap();
        let established = live
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
        let names = live.spec.names;
        assert_eq!(
            names.categories.as_deref(),
            Some(&["pveontap".to_string()][..]),
            "{name}"
        );
        assert!(
            names.short_names.is_some_and(|s| s.len() == 1),
            "{name} needs a short name"
        );
    }
}

#[tokio::test]
async fn good_specs_are_accepted() {
    let (client, ns) = setup().await;
    let cases: Vec<(&str, Kind, Value)> = vec![
        ("vdc minimal", Kind::Vdc, vdc()),
        (
            "vdc every option",
            Kind::Vdc,
            with(
                vdc(),
                json!({"disks": ["scsi0", "scsi30", "virtio15", "sata5", "ide3", "efidisk0", "tpmstate0"],
                       "consistency": "FsFreeze", "requireConsistency": true, "attach": "None",
                       "deletionPolicy": "Retain"}),
            ),
        ),
        (
            "vdc new vm",
            Kind::Vdc,
            with(
                vdc(),
                json!({"attach": "NewVm", "consistency": "Hibernate",
                               "newVm": {"vmid": 999999999, "name": "copy-of-100.lab", "node": "pve1", "start": true}}),
            ),
        ),
        (
            "ovs via storage",
            Kind::Ovs,
            with(
                ovs(),
                json!({"consistency": "Suspend", "comment": "before upgrade"}),
            ),
        ),
        ("ovs direct", Kind::Ovs, ovs_direct()),
        (
            "ovs adopt",
            Kind::Ovs,
            with(
                ovs(),
                json!({"existingSnapshotName": "hourly.2026-11-21_0005"}),
            ),
        ),
        ("fcm from VolumeSnapshot", Kind::Fcm, fcm()),
        (
            "fcm from source",
            Kind::Fcm,
            with(
                fcm_source(),
                json!({"storageId": "clone-1", "junctionPath": "/pveontap_fcm_c1",
                                      "content": ["images", "iso"], "nodes": ["pve1"],
                                      "options": "vers=4.2,nconnect=4", "split": true}),
            ),
        ),
        ("pxc", Kind::Pxc, pxc()),
        ("otc", Kind::Otc, otc()),
        (
            "pxc scoped",
            Kind::Pxc,
            with(
                pxc(),
                json!({"scopes": [{"namespaces": ["team-a"], "vmids": ["100-199", "250"], "tags": ["team-a", "db.prod"],
                                   "storages": ["ONTAP01"]},
                                  {"namespaces": ["*"], "vmids": []}]}),
            ),
        ),
        (
            "otc scoped",
            Kind::Otc,
            with(
                otc(),
                json!({"scopes": [{"namespaces": ["team-a"], "svms": ["svm1"], "volumes": ["pve_images"]}],
                       "allowDeleteAdopted": true}),
            ),
        ),
    ];
    for (i, (what, kind, spec)) in cases.into_iter().enumerate() {
        kind.api(&client, &ns)
            .create(&dry_run(), &kind.object(&format!("good-{i}"), spec))
            .await
            .unwrap_or_else(|e| panic!("{what}: rejected: {e}"));
    }
}

#[tokio::test]
async fn bad_specs_are_rejected_with_a_reason() {
    let (client, ns) = setup().await;
    let cases: Vec<(&str, Kind, Value, &str)> = vec![
        (
            "vmid below range",
            Kind::Vdc,
            with(vdc(), json!({"vmid": 99})),
            "greater than or equal to 100",
        ),
        (
            "vmid above range",
            Kind::Vdc,
            with(vdc(), json!({"vmid": 1_000_000_000})),
            "less than or equal to 999999999",
        ),
        (
            "scsi31 is no drive",
            Kind::Vdc,
            with(vdc(), json!({"disks": ["scsi31"]})),
            "spec.disks[0] in body should match",
        ),
        (
            "ide4 is no drive",
            Kind::Vdc,
            with(vdc(), json!({"disks": ["ide4"]})),
            "should match",
        ),
        (
            "unused disks are not copied",
            Kind::Vdc,
            with(vdc(), json!({"disks": ["unused0"]})),
            "should match",
        ),
        (
            "duplicate disks",
            Kind::Vdc,
            with(vdc(), json!({"disks": ["scsi0", "scsi0"]})),
            "Duplicate value",
        ),
        (
            "unknown consistency",
            Kind::Vdc,
            with(vdc(), json!({"consistency": "Snapshot"})),
            "Unsupported value: \"Snapshot\"",
        ),
        (
            "unknown attach",
            Kind::Vdc,
            with(vdc(), json!({"attach": "Clone"})),
            "Unsupported value: \"Clone\"",
        ),
        (
            "NewVm without newVm",
            Kind::Vdc,
            with(vdc(), json!({"attach": "NewVm"})),
            "newVm is required when attach is NewVm",
        ),
        (
            "newVm without NewVm",
            Kind::Vdc,
            with(vdc(), json!({"newVm": {"vmid": 200, "name": "x"}})),
            "newVm is required when attach is NewVm and not allowed otherwise",
        ),
        (
            "newVm reuses the source vmid",
            Kind::Vdc,
            with(
                vdc(),
                json!({"attach": "NewVm", "newVm": {"vmid": 100, "name": "x"}}),
            ),
            "newVm.vmid must differ from vmid",
        ),
        (
            "newVm name not a DNS name",
            Kind::Vdc,
            with(
                vdc(),
                json!({"attach": "NewVm", "newVm": {"vmid": 200, "name": "bad_name"}}),
            ),
            "spec.newVm.name in body should match",
        ),
        (
            "missing cluster ref",
            Kind::Vdc,
            with(vdc(), json!({"proxmoxClusterRef": null})),
            "spec.proxmoxClusterRef: Required value",
        ),
        (
            "bad cluster ref name",
            Kind::Vdc,
            with(vdc(), json!({"proxmoxClusterRef": {"name": "Bad_Name"}})),
            "should match",
        ),
        (
            "unknown deletion policy",
            Kind::Vdc,
            with(vdc(), json!({"deletionPolicy": "Keep"})),
            "Unsupported value: \"Keep\"",
        ),
        (
            "ovs without source",
            Kind::Ovs,
            json!({"comment": "x"}),
            "exactly one of storage or ontapVolume must be set",
        ),
        (
            "ovs with both sources",
            Kind::Ovs,
            with(ovs(), ovs_direct()),
            "exactly one of storage or ontapVolume must be set",
        ),
        (
            "storage without cluster",
            Kind::Ovs,
            json!({"storage": "ONTAP01"}),
            "storage and proxmoxClusterRef go together",
        ),
        (
            "snapshotName with existingSnapshotName",
            Kind::Ovs,
            with(
                ovs(),
                json!({"snapshotName": "a", "existingSnapshotName": "b"}),
            ),
            "snapshotName and existingSnapshotName are mutually exclusive",
        ),
        (
            "bad storage id",
            Kind::Ovs,
            with(ovs(), json!({"storage": "1nfs"})),
            "spec.storage in body should match",
        ),
        (
            "volume name with hyphen",
            Kind::Ovs,
            with(ovs_direct(), json!({"ontapVolume": {"name": "pve-data"}})),
            "spec.ontapVolume.name in body should match",
        ),
        (
            "snapshot name with space",
            Kind::Ovs,
            with(ovs(), json!({"snapshotName": "my snap"})),
            "spec.snapshotName in body should match",
        ),
        (
            "consistency without Proxmox",
            Kind::Ovs,
            with(ovs_direct(), json!({"consistency": "FsFreeze"})),
            "consistency needs proxmoxClusterRef and storage",
        ),
        (
            "consistency on adopted snapshot",
            Kind::Ovs,
            with(
                ovs(),
                json!({"existingSnapshotName": "s1", "consistency": "Suspend"}),
            ),
            "an adopted snapshot already exists",
        ),
        (
            "hibernate is not a snapshot consistency",
            Kind::Ovs,
            with(ovs(), json!({"consistency": "Hibernate"})),
            "Unsupported value",
        ),
        (
            "fcm without source",
            Kind::Fcm,
            json!({"split": true}),
            "exactly one of volumeSnapshotRef or source must be set",
        ),
        (
            "fcm with both sources",
            Kind::Fcm,
            with(fcm(), fcm_source()),
            "exactly one of volumeSnapshotRef or source must be set",
        ),
        (
            "relative junction",
            Kind::Fcm,
            with(fcm(), json!({"junctionPath": "pve/c1"})),
            "spec.junctionPath in body should match",
        ),
        (
            "junction with trailing slash",
            Kind::Fcm,
            with(fcm(), json!({"junctionPath": "/pve/c1/"})),
            "should match",
        ),
        (
            "one-letter storage id",
            Kind::Fcm,
            with(fcm(), json!({"storageId": "c"})),
            "spec.storageId in body should be at least 2 chars long",
        ),
        (
            "unknown content type",
            Kind::Fcm,
            with(fcm(), json!({"content": ["images", "disks"]})),
            "Unsupported value: \"disks\"",
        ),
        (
            "junction that climbs out",
            Kind::Fcm,
            with(
                fcm(),
                json!({"junctionPath": "/pveontap_fcm_x/../pve_images"}),
            ),
            "spec.junctionPath in body should match",
        ),
        (
            "junction of another volume",
            Kind::Fcm,
            with(fcm(), json!({"junctionPath": "/pve_images"})),
            "spec.junctionPath in body should match",
        ),
        (
            "junction under another volume's junction",
            Kind::Fcm,
            with(fcm(), json!({"junctionPath": "/pve_images/pveontap_fcm_x"})),
            "spec.junctionPath in body should match",
        ),
        (
            "mount option outside the allow-list",
            Kind::Fcm,
            with(fcm(), json!({"options": "vers=4.2,exec"})),
            "spec.options in body should match",
        ),
        (
            "mount options with a no-break space",
            Kind::Fcm,
            with(fcm(), json!({"options": "vers=4.2,\u{a0}hard"})),
            "spec.options in body should match",
        ),
        (
            "mount options with NUL",
            Kind::Fcm,
            with(fcm(), json!({"options": "vers=4.2\u{0}"})),
            "spec.options in body should match",
        ),
        (
            "mount options with a vertical tab",
            Kind::Fcm,
            with(fcm(), json!({"options": "vers=4.2\u{b},hard"})),
            "spec.options in body should match",
        ),
        (
            "mount options with an SELinux context",
            Kind::Fcm,
            with(
                fcm(),
                json!({"options": "vers=4.2,context=system_u:object_r:nfs_t:s0"}),
            ),
            "spec.options in body should match",
        ),
        (
            "comment forging an ownership marker",
            Kind::Ovs,
            with(ovs(), json!({"comment": "pveontap.io/owner=x"})),
            "comment may not contain pveontap.io/",
        ),
        (
            "comment that leaves no room for the marker",
            Kind::Ovs,
            with(ovs(), json!({"comment": "x".repeat(188)})),
            "spec.comment: Too long",
        ),
        (
            "allowedNamespaces wildcard inside a name",
            Kind::Pxc,
            with(pxc(), json!({"allowedNamespaces": ["team-*"]})),
            "spec.allowedNamespaces[0] in body should match",
        ),
        (
            "mount options with space",
            Kind::Fcm,
            with(fcm(), json!({"options": "vers=4.2, nconnect=4"})),
            "spec.options in body should match",
        ),
        (
            "source snapshot missing",
            Kind::Fcm,
            with(fcm_source(), json!({"source": {"snapshotName": null}})),
            "spec.source.snapshotName: Required value",
        ),
        (
            "no endpoints",
            Kind::Pxc,
            with(pxc(), json!({"endpoints": []})),
            "spec.endpoints in body should have at least 1 items",
        ),
        (
            "plain http endpoint",
            Kind::Pxc,
            with(pxc(), json!({"endpoints": ["http://127.0.0.1:8006"]})),
            "spec.endpoints[0] in body should match",
        ),
        (
            "missing credentials",
            Kind::Otc,
            with(otc(), json!({"credentialsSecretRef": null})),
            "spec.credentialsSecretRef: Required value",
        ),
        (
            "bad secret namespace",
            Kind::Otc,
            with(
                otc(),
                json!({"credentialsSecretRef": {"namespace": "Not_A_Namespace"}}),
            ),
            "spec.credentialsSecretRef.namespace in body should match",
        ),
        (
            "bad allowed namespace",
            Kind::Otc,
            with(otc(), json!({"allowedNamespaces": ["ok", "NOT OK"]})),
            "spec.allowedNamespaces[1] in body should match",
        ),
        (
            "scope without namespaces",
            Kind::Pxc,
            with(pxc(), json!({"scopes": [{"vmids": ["100"]}]})),
            "spec.scopes[0].namespaces: Required value",
        ),
        (
            "scope vmid range open-ended",
            Kind::Pxc,
            with(
                pxc(),
                json!({"scopes": [{"namespaces": ["a"], "vmids": ["100-"]}]}),
            ),
            "spec.scopes[0].vmids[0] in body should match",
        ),
        (
            "scope tag with a space",
            Kind::Pxc,
            with(
                pxc(),
                json!({"scopes": [{"namespaces": ["a"], "tags": ["team a"]}]}),
            ),
            "spec.scopes[0].tags[0] in body should match",
        ),
        (
            "scope volume with a slash",
            Kind::Otc,
            with(
                otc(),
                json!({"scopes": [{"namespaces": ["a"], "volumes": ["vol/../x"]}]}),
            ),
            "spec.scopes[0].volumes[0] in body should match",
        ),
    ];
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for (i, (what, kind, spec, expected)) in cases.into_iter().enumerate() {
        let result = kind
            .api(&client, &ns)
            .create(&dry_run(), &kind.object(&format!("bad-{i}"), spec))
            .await;
        match result {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(e) => {
                let msg = error_message(e);
                if !msg.contains(expected) {
                    failures.push(format!("{what}: expected {expected:?} in {msg:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn update_rejected(api: &Api<DynamicObject>, name: &str, spec_patch: Value, expected: &str) {
    let err = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec_patch })),
        )
        .await
        .expect_err(&format!("update of {name} with {spec_patch} was accepted"));
    let msg = error_message(err);
    assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
}

async fn update_accepted(api: &Api<DynamicObject>, name: &str, spec_patch: Value) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec_patch })),
    )
    .await
    .unwrap_or_else(|e| panic!("update of {name} rejected: {e}"));
}

#[tokio::test]
async fn source_identity_is_immutable() {
    let (client, ns) = setup().await;
    let pp = PostParams::default();

    let vdcs = Kind::Vdc.api(&client, &ns);
    vdcs.create(&pp, &Kind::Vdc.object("clone", vdc()))
        .await
        .unwrap();
    update_rejected(&vdcs, "clone", json!({"vmid": 101}), "vmid is immutable").await;
    update_rejected(
        &vdcs,
        "clone",
        json!({"proxmoxClusterRef": {"name": "other"}}),
        "proxmoxClusterRef is immutable",
    )
    .await;
    update_accepted(
        &vdcs,
        "clone",
        json!({"consistency": "Suspend", "deletionPolicy": "Retain"}),
    )
    .await;

    let snaps = Kind::Ovs.api(&client, &ns);
    snaps
        .create(&pp, &Kind::Ovs.object("snap", ovs()))
        .await
        .unwrap();
    update_rejected(
        &snaps,
        "snap",
        json!({"storage": "ONTAP02"}),
        "storage is immutable",
    )
    .await;
    update_rejected(
        &snaps,
        "snap",
        json!({"snapshotName": "late"}),
        "snapshotName is immutable",
    )
    .await;
    update_rejected(
        &snaps,
        "snap",
        json!({"proxmoxClusterRef": {"name": "other"}}),
        "proxmoxClusterRef is immutable",
    )
    .await;
    update_accepted(&snaps, "snap", json!({"comment": "changed"})).await;

    let direct = Kind::Ovs.object("direct", ovs_direct());
    snaps.create(&pp, &direct).await.unwrap();
    update_rejected(
        &snaps,
        "direct",
        json!({"ontapVolume": {"name": "other_vol"}}),
        "ontapVolume is immutable",
    )
    .await;

    let mounts = Kind::Fcm.api(&client, &ns);
    mounts
        .create(
            &pp,
            &Kind::Fcm.object("mount", with(fcm_source(), json!({"storageId": "c1"}))),
        )
        .await
        .unwrap();
    update_rejected(
        &mounts,
        "mount",
        json!({"source": {"snapshotName": "other"}}),
        "source is immutable",
    )
    .await;
    update_rejected(
        &mounts,
        "mount",
        json!({"storageId": "c2"}),
        "storageId is immutable",
    )
    .await;
    update_rejected(
        &mounts,
        "mount",
        json!({"junctionPath": "/pveontap_fcm_late"}),
        "junctionPath is immutable",
    )
    .await;
    update_accepted(&mounts, "mount", json!({"split": true})).await;
    update_rejected(
        &mounts,
        "mount",
        json!({"split": false}),
        "a split cannot be undone",
    )
    .await;
}
