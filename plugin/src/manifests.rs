//! The objects the commands create, built from the flags alone (no IO), so `-o yaml` prints exactly what would be
//! applied. Each is parsed into the controller's own API type, so a manifest the types cannot read never leaves here.

use chrono::{DateTime, Utc};
use pve_ontap_controller::api::{
    FlexCloneMount, VmDiskClone, VolumeSnapshot, VolumeSnapshotRestore,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use crate::cli::{StorageMount, StorageSnapshot, VmClone};

/// Where a restore or mount finds its snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotRef {
    /// A VolumeSnapshot of the namespace.
    Object(String),
    /// An ONTAP snapshot no object manages: `(proxmoxCluster, storage, snapshotName)`.
    Foreign {
        proxmox: String,
        storage: String,
        snapshot: String,
    },
}

impl SnapshotRef {
    /// The base of derived object names.
    fn base(&self) -> &str {
        match self {
            SnapshotRef::Object(name) => name,
            SnapshotRef::Foreign { snapshot, .. } => snapshot,
        }
    }

    fn spec(&self) -> (&'static str, Value) {
        match self {
            SnapshotRef::Object(name) => ("volumeSnapshotRef", json!({ "name": name })),
            SnapshotRef::Foreign {
                proxmox,
                storage,
                snapshot,
            } => (
                "source",
                json!({ "proxmoxClusterRef": { "name": proxmox }, "storage": storage, "snapshotName": snapshot }),
            ),
        }
    }
}

/// A derived object name: `<base>-<UTC yyyymmdd-hhmmss>`, the base lowered to a DNS label and cut to 40
/// characters, so names sort by time, say what they are of, and stay below the 63 characters of a label.
pub fn derived_name(base: &str, at: DateTime<Utc>) -> String {
    let mut label: String = base
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(40);
    let label = label.trim_matches('-');
    let label = if label.is_empty() { "pveontap" } else { label };
    format!("{label}-{}", at.format("%Y%m%d-%H%M%S"))
}

fn object<K: DeserializeOwned>(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    spec: Map<String, Value>,
) -> anyhow::Result<K> {
    let mut metadata = json!({ "name": name });
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    let value = json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec,
    });
    serde_json::from_value(value).map_err(|e| anyhow::anyhow!("building the {kind} failed: {e}"))
}

fn put(spec: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    spec.insert(key.to_owned(), value.into());
}

pub fn vm_disk_clone(
    args: &VmClone,
    proxmox: &str,
    namespace: Option<&str>,
    at: DateTime<Utc>,
) -> anyhow::Result<VmDiskClone> {
    let mut spec = Map::new();
    put(&mut spec, "proxmoxClusterRef", json!({ "name": proxmox }));
    put(&mut spec, "vmid", args.vmid);
    let consistency = [
        (args.suspend, "Suspend"),
        (args.hibernate, "Hibernate"),
        (args.shutdown, "Shutdown"),
        (args.fsfreeze, "FsFreeze"),
    ]
    .into_iter()
    .find_map(|(on, mode)| on.then_some(mode));
    if let Some(mode) = consistency {
        put(&mut spec, "consistency", mode);
    }
    if args.require_consistency {
        put(&mut spec, "requireConsistency", true);
    }
    if let Some(secs) = args.shutdown_timeout {
        put(&mut spec, "shutdownTimeoutSeconds", secs);
    }
    if !args.disks.is_empty() {
        put(&mut spec, "disks", json!(args.disks));
    }
    if let Some(vmid) = args.new_vm {
        put(&mut spec, "attach", "NewVm");
        let mut new_vm = json!({ "vmid": vmid, "name": args.name, "start": args.start });
        if let Some(node) = &args.node {
            new_vm["node"] = json!(node);
        }
        put(&mut spec, "newVm", new_vm);
    } else if args.no_attach {
        put(&mut spec, "attach", "None");
    }
    let name = args
        .object_name
        .clone()
        .unwrap_or_else(|| derived_name(&format!("vm{}", args.vmid), at));
    object("VmDiskClone", &name, namespace, spec)
}

/// `target`: `(proxmoxCluster, storage)` or `(ontapCluster, svm, volume)` via [`SnapshotTarget`].
pub fn volume_snapshot(
    args: &StorageSnapshot,
    target: &SnapshotTarget,
    namespace: Option<&str>,
    at: DateTime<Utc>,
) -> anyhow::Result<VolumeSnapshot> {
    let mut spec = Map::new();
    let base = match target {
        SnapshotTarget::Storage { proxmox, storage } => {
            put(&mut spec, "proxmoxClusterRef", json!({ "name": proxmox }));
            put(&mut spec, "storage", storage.as_str());
            storage.clone()
        }
        SnapshotTarget::Volume { ontap, svm, volume } => {
            put(
                &mut spec,
                "ontapVolume",
                json!({ "ontapClusterRef": { "name": ontap }, "svm": svm, "name": volume }),
            );
            volume.clone()
        }
    };
    if let Some(mode) = [(args.suspend, "Suspend"), (args.fsfreeze, "FsFreeze")]
        .into_iter()
        .find_map(|(on, mode)| on.then_some(mode))
    {
        put(&mut spec, "consistency", mode);
    }
    if args.require_consistency {
        put(&mut spec, "requireConsistency", true);
    }
    if let Some(name) = &args.snapshot_name {
        put(&mut spec, "snapshotName", name.as_str());
    }
    if let Some(comment) = &args.comment {
        put(&mut spec, "comment", comment.as_str());
    }
    let name = args.name.clone().unwrap_or_else(|| derived_name(&base, at));
    object("VolumeSnapshot", &name, namespace, spec)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotTarget {
    Storage {
        proxmox: String,
        storage: String,
    },
    Volume {
        ontap: String,
        svm: String,
        volume: String,
    },
}

pub fn flex_clone_mount(
    args: &StorageMount,
    snapshot: &SnapshotRef,
    namespace: Option<&str>,
    at: DateTime<Utc>,
) -> anyhow::Result<FlexCloneMount> {
    let mut spec = Map::new();
    let (key, value) = snapshot.spec();
    put(&mut spec, key, value);
    if let Some(id) = &args.name {
        put(&mut spec, "storageId", id.as_str());
    }
    if !args.content.is_empty() {
        put(&mut spec, "content", json!(args.content));
    }
    if !args.nodes.is_empty() {
        put(&mut spec, "nodes", json!(args.nodes));
    }
    if let Some(options) = &args.options {
        put(&mut spec, "options", options.as_str());
    }
    if args.split {
        put(&mut spec, "split", true);
    }
    let name = args
        .object_name
        .clone()
        .unwrap_or_else(|| derived_name(&format!("{}-mount", snapshot.base()), at));
    object("FlexCloneMount", &name, namespace, spec)
}

/// What a restore is asked to do; `confirm` is written to `spec.confirmDestroy` as given.
pub struct RestoreRequest<'a> {
    pub snapshot: &'a SnapshotRef,
    pub vm: Option<u32>,
    pub restore_config: bool,
    pub restart_vms: bool,
    pub shutdown_timeout: Option<u32>,
    pub confirm: &'a [String],
    pub object_name: Option<&'a str>,
}

pub fn volume_snapshot_restore(
    req: &RestoreRequest<'_>,
    namespace: Option<&str>,
    at: DateTime<Utc>,
) -> anyhow::Result<VolumeSnapshotRestore> {
    let mut spec = Map::new();
    let (key, value) = req.snapshot.spec();
    put(&mut spec, key, value);
    if let Some(vmid) = req.vm {
        put(&mut spec, "scope", "Vm");
        put(&mut spec, "vmid", vmid);
        if req.restore_config {
            put(&mut spec, "restoreConfig", true);
        }
    }
    if req.restart_vms {
        put(&mut spec, "vmPolicy", "ShutdownAndRestart");
    }
    if let Some(secs) = req.shutdown_timeout {
        put(&mut spec, "shutdownTimeoutSeconds", secs);
    }
    if !req.confirm.is_empty() {
        put(&mut spec, "confirmDestroy", json!(req.confirm));
    }
    let name = req
        .object_name
        .map(str::to_owned)
        .unwrap_or_else(|| derived_name(&format!("{}-restore", req.snapshot.base()), at));
    object("VolumeSnapshotRestore", &name, namespace, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, StorageCommand, VmCommand};
    use clap::Parser;

    fn at() -> DateTime<Utc> {
        "2026-01-05T14:30:12Z".parse().unwrap()
    }

    fn vm_args(argv: &[&str]) -> VmClone {
        let mut full = vec!["k", "vm", "clone"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Vm(VmCommand::Clone(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_are_derived_from_the_source_and_the_time() {
        assert_eq!(derived_name("vm100", at()), "vm100-20260105-143012");
        assert_eq!(
            derived_name("ONTAP_01.x", at()),
            "ontap-01-x-20260105-143012"
        );
        assert_eq!(derived_name("__", at()), "pveontap-20260105-143012");
        assert!(derived_name(&"a".repeat(300), at()).len() <= 63);
    }

    #[test]
    fn vm_clone_flags_become_the_spec() {
        let c = vm_disk_clone(
            &vm_args(&["100", "--suspend", "--disk", "scsi0,scsi1"]),
            "pve",
            None,
            at(),
        )
        .unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["metadata"]["name"], "vm100-20260105-143012");
        assert_eq!(v["spec"]["consistency"], "Suspend");
        assert_eq!(v["spec"]["disks"], json!(["scsi0", "scsi1"]));
        assert_eq!(v["spec"]["attach"], "Unused");
        assert_eq!(v["spec"]["proxmoxClusterRef"]["name"], "pve");

        let c = vm_disk_clone(
            &vm_args(&["100", "--new-vm", "9100", "--name", "copy", "--start"]),
            "pve",
            Some("ns"),
            at(),
        )
        .unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["spec"]["attach"], "NewVm");
        assert_eq!(
            v["spec"]["newVm"],
            json!({ "vmid": 9100, "name": "copy", "start": true })
        );
        assert_eq!(v["metadata"]["namespace"], "ns");
    }

    #[test]
    fn restores_carry_scope_policy_and_confirmation() {
        let snap = SnapshotRef::Object("before".into());
        let confirm = vec!["newer".to_owned()];
        let r = volume_snapshot_restore(
            &RestoreRequest {
                snapshot: &snap,
                vm: None,
                restore_config: false,
                restart_vms: true,
                shutdown_timeout: None,
                confirm: &confirm,
                object_name: None,
            },
            None,
            at(),
        )
        .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["spec"]["vmPolicy"], "ShutdownAndRestart");
        assert_eq!(v["spec"]["confirmDestroy"], json!(["newer"]));
        assert_eq!(v["spec"]["scope"], "Storage");
        assert_eq!(v["metadata"]["name"], "before-restore-20260105-143012");
    }

    #[test]
    fn mounts_of_foreign_snapshots_name_storage_and_snapshot() {
        let args = match Cli::try_parse_from([
            "k",
            "storage",
            "mount",
            "daily.0",
            "--storage",
            "ONTAP01",
            "--name",
            "ONTAP01-CLONE",
        ])
        .unwrap()
        .command
        {
            Command::Storage(StorageCommand::Mount(m)) => m,
            other => panic!("{other:?}"),
        };
        let snap = SnapshotRef::Foreign {
            proxmox: "pve".into(),
            storage: "ONTAP01".into(),
            snapshot: "daily.0".into(),
        };
        let m = flex_clone_mount(&args, &snap, None, at()).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["spec"]["source"]["snapshotName"], "daily.0");
        assert_eq!(v["spec"]["storageId"], "ONTAP01-CLONE");
        assert_eq!(v["metadata"]["name"], "daily-0-mount-20260105-143012");
    }
}
