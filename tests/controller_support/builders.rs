//! Typed builders of the manifests the scenario tests create. Each starts from what every object of its kind
//! in these tests needs (the backend reference, VM 100, storage ONTAP01) and adds only the fields a test sets,
//! so a fixture reads as what is special about it. `build()` returns the manifest as JSON, for
//! [`Harness::create`](super::Harness::create) and its variants.
//!
//! Deliberately malformed objects (wrong types, values the schema refuses) are not built here: the tests that
//! send them keep raw JSON.

use serde_json::{json, Map, Value};

/// The default scenario's Proxmox storage on ONTAP (the NFS export of volume `pve_images`).
pub const ONTAP_STORAGE: &str = "ONTAP01";

/// Generates setters that put one value at a key of the spec.
macro_rules! spec_setters {
    ($($(#[$doc:meta])* $method:ident: $ty:ty => $key:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(mut self, value: $ty) -> Self {
                self.0.spec.insert($key.to_owned(), Value::from(value));
                self
            }
        )*
    };
}

/// What every builder fills in: kind, name, finalizers and the spec's fields.
#[derive(Clone, Debug)]
struct Fixture {
    kind: &'static str,
    name: String,
    finalizers: Vec<String>,
    spec: Map<String, Value>,
}

impl Fixture {
    fn new(kind: &'static str, name: &str, spec: Value) -> Self {
        let Value::Object(spec) = spec else {
            unreachable!("a spec is an object")
        };
        Fixture {
            kind,
            name: name.to_owned(),
            finalizers: Vec::new(),
            spec,
        }
    }

    fn build(&self) -> Value {
        let mut m = super::manifest(self.kind, &self.name, Value::Object(self.spec.clone()));
        if !self.finalizers.is_empty() {
            m["metadata"]["finalizers"] = json!(self.finalizers);
        }
        m
    }
}

/// A `VmDiskClone` manifest: by default every ONTAP disk of VM 100, the spec's defaults for the rest.
#[derive(Clone, Debug)]
pub struct VmDiskCloneBuilder(Fixture);

impl VmDiskCloneBuilder {
    /// A clone named `name` of VM 100 on ProxmoxCluster `pve_name`.
    pub fn new(pve_name: &str, name: &str) -> Self {
        VmDiskCloneBuilder(Fixture::new(
            "VmDiskClone",
            name,
            json!({ "proxmoxClusterRef": { "name": pve_name }, "vmid": 100 }),
        ))
    }

    spec_setters! {
        /// The source VM (default 100).
        vmid: u32 => "vmid";
        /// `None`, `FsFreeze`, `Suspend`, `Hibernate` or `Shutdown`.
        consistency: &str => "consistency";
        require_consistency: bool => "requireConsistency";
        shutdown_timeout_seconds: u32 => "shutdownTimeoutSeconds";
        /// `None`, `Unused` or `NewVm` (then see [`Self::new_vm`]).
        attach: &str => "attach";
        /// The drives to copy (default: every disk on ONTAP).
        disks: &[&str] => "disks";
        /// `Delete` or `Retain`.
        deletion_policy: &str => "deletionPolicy";
    }

    /// `newVm`: the VM made with the copies (for `attach: NewVm`).
    pub fn new_vm(mut self, vmid: u32, name: &str) -> Self {
        self.0
            .spec
            .insert("newVm".into(), json!({ "vmid": vmid, "name": name }));
        self
    }

    /// `newVm.node`; call after [`Self::new_vm`].
    pub fn new_vm_node(mut self, node: &str) -> Self {
        self.new_vm_field("node", json!(node));
        self
    }

    /// `newVm.start: true`: the new VM is started once made; call after [`Self::new_vm`].
    pub fn start_new_vm(mut self) -> Self {
        self.new_vm_field("start", json!(true));
        self
    }

    fn new_vm_field(&mut self, key: &str, value: Value) {
        let new_vm = self.0.spec.get_mut("newVm").expect("new_vm() first");
        new_vm[key] = value;
    }

    /// A finalizer present from creation (as a controller that died after adding its own would leave it).
    pub fn finalizer(mut self, finalizer: &str) -> Self {
        self.0.finalizers.push(finalizer.to_owned());
        self
    }

    pub fn build(&self) -> Value {
        self.0.build()
    }
}

/// A `VolumeSnapshot` manifest: by default of the volume behind Proxmox storage ONTAP01, named by the
/// controller, consistency and deletion policy as the spec defaults them.
#[derive(Clone, Debug)]
pub struct VolumeSnapshotBuilder(Fixture);

impl VolumeSnapshotBuilder {
    /// A snapshot named `name` of the volume behind storage [`ONTAP_STORAGE`] of ProxmoxCluster `pve_name`.
    pub fn new(pve_name: &str, name: &str) -> Self {
        VolumeSnapshotBuilder(Fixture::new(
            "VolumeSnapshot",
            name,
            json!({ "proxmoxClusterRef": { "name": pve_name }, "storage": ONTAP_STORAGE }),
        ))
    }

    /// A snapshot named `name` of ONTAP volume `volume` of SVM `svm` on OntapCluster `ontap_name`, named
    /// directly (no Proxmox storage, so no VM is involved).
    pub fn of_ontap_volume(ontap_name: &str, svm: &str, volume: &str, name: &str) -> Self {
        VolumeSnapshotBuilder(Fixture::new(
            "VolumeSnapshot",
            name,
            json!({
                "ontapVolume": { "ontapClusterRef": { "name": ontap_name }, "svm": svm, "name": volume },
            }),
        ))
    }

    spec_setters! {
        /// The Proxmox storage (default [`ONTAP_STORAGE`]); for snapshots made with [`Self::new`].
        storage: &str => "storage";
        /// The name on ONTAP (default derived from the object).
        snapshot_name: &str => "snapshotName";
        /// Adopt this snapshot, made outside Kubernetes, instead of taking one.
        existing_snapshot_name: &str => "existingSnapshotName";
        /// `None`, `FsFreeze` or `Suspend`.
        consistency: &str => "consistency";
        require_consistency: bool => "requireConsistency";
        comment: &str => "comment";
        /// `Delete` or `Retain`.
        deletion_policy: &str => "deletionPolicy";
    }

    pub fn build(&self) -> Value {
        self.0.build()
    }
}

/// A `FlexCloneMount` manifest: the clone of one snapshot mounted as a new Proxmox storage, storage id,
/// junction and options as the controller derives them unless set.
#[derive(Clone, Debug)]
pub struct FlexCloneMountBuilder(Fixture);

impl FlexCloneMountBuilder {
    /// A mount named `name` of the snapshot of VolumeSnapshot `volume_snapshot` (same namespace).
    pub fn of_snapshot(volume_snapshot: &str, name: &str) -> Self {
        FlexCloneMountBuilder(Fixture::new(
            "FlexCloneMount",
            name,
            json!({ "volumeSnapshotRef": { "name": volume_snapshot } }),
        ))
    }

    /// A mount named `name` of snapshot `snapshot_name`, not managed here, of the volume behind Proxmox storage
    /// `storage` of ProxmoxCluster `pve_name`.
    pub fn of_source(pve_name: &str, storage: &str, snapshot_name: &str, name: &str) -> Self {
        FlexCloneMountBuilder(Fixture::new(
            "FlexCloneMount",
            name,
            json!({
                "source": {
                    "proxmoxClusterRef": { "name": pve_name },
                    "storage": storage,
                    "snapshotName": snapshot_name,
                },
            }),
        ))
    }

    spec_setters! {
        storage_id: &str => "storageId";
        junction_path: &str => "junctionPath";
        /// Proxmox content types (default `images`).
        content: &[&str] => "content";
        /// Nodes the storage is enabled on (default all).
        nodes: &[&str] => "nodes";
        /// NFS mount options (default the parent storage's).
        options: &str => "options";
        split: bool => "split";
        /// `Delete` or `Retain`.
        deletion_policy: &str => "deletionPolicy";
    }

    pub fn build(&self) -> Value {
        self.0.build()
    }
}
