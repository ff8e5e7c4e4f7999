//! The kit itself against the real binaries: startup, identities, RBAC enforcement, teardown.

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

fn forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403)
}

#[tokio::test]
async fn admin_identity_is_served_by_the_pinned_apiserver() {
    let control_plane = testkit::shared().await.expect("control plane");
    let admin = control_plane.admin_client().await.expect("admin client");
    let version = admin.apiserver_version().await.expect("version");
    let pinned = testkit::paths::pinned_version("KUBE_VERSION").expect("pinned");
    assert_eq!(version.git_version, pinned);
    let namespaces: Api<Namespace> = Api::all(admin);
    let names: Vec<_> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert!(
        names.iter().any(|n| n == "kube-system"),
        "namespaces: {names:?}"
    );
}

#[tokio::test]
async fn service_account_gets_only_what_rbac_grants() {
    let control_plane = testkit::shared().await.expect("control plane");
    let namespace = control_plane
        .create_namespace("rbac")
        .await
        .expect("namespace");
    let other = control_plane
        .create_namespace("rbac-other")
        .await
        .expect("namespace");
    let admin = control_plane.admin_client().await.expect("admin client");

    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("reader".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let as_reader = control_plane
        .client_as_service_account(&namespace, "reader")
        .await
        .expect("token client");

    let pods: Api<Pod> = Api::namespaced(as_reader.clone(), &namespace);
    let denied = pods
        .list(&ListParams::default())
        .await
        .expect_err("no RBAC yet");
    assert!(forbidden(&denied), "expected 403, got {denied:?}");

    let role = Role {
        metadata: ObjectMeta {
            name: Some("pod-reader".into()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            verbs: vec!["list".into()],
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("pod-reader".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "pod-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(namespace.clone()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, &namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");

    // RBAC decisions come from an informer cache in the apiserver, so the grant takes effect shortly after the
    // write; poll rather than assume.
    let mut listed = pods.list(&ListParams::default()).await;
    for _ in 0..50 {
        if listed.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        listed = pods.list(&ListParams::default()).await;
    }
    listed.expect("granted by the Role");

    let elsewhere = Api::<Pod>::namespaced(as_reader, &other)
        .list(&ListParams::default())
        .await
        .expect_err("other namespace");
    assert!(forbidden(&elsewhere), "expected 403, got {elsewhere:?}");
}

#[tokio::test]
async fn dropping_a_control_plane_stops_its_processes_and_removes_its_directory() {
    let empty_crds = tempfile::tempdir().expect("tempdir");
    let options = testkit::Options {
        crd_dir: Some(empty_crds.path().to_path_buf()),
        ..Default::default()
    };
    let control_plane = testkit::ControlPlane::start_with(options)
        .await
        .expect("control plane");
    let (etcd, apiserver) = control_plane.pids().expect("running");
    let dir = control_plane.state_dir().to_path_buf();
    assert!(dir.join("kube-apiserver.log").is_file());
    assert!(testkit::process::pid_alive(etcd) && testkit::process::pid_alive(apiserver));

    drop(control_plane);

    assert!(
        !testkit::process::pid_alive(etcd),
        "etcd {etcd} still running"
    );
    assert!(
        !testkit::process::pid_alive(apiserver),
        "kube-apiserver {apiserver} still running"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}
