//! The simulated ONTAP cluster's state: SVMs, LIFs, export policies, volumes (with files and snapshots), the volume
//! recovery queue and jobs. Everything here is plain data (serialisable for `--state`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fs::FileTree;
use super::jobs::Job;
use super::scenario::OntapScenario;

/// Namespace for the name-derived UUIDs of scenario objects, so a reset reproduces the same identities.
const UUID_NS: Uuid = Uuid::from_u128(0x6f6e_7461_702d_7369_6d2d_7576_6964_0001);

pub fn scenario_uuid(kind: &str, key: &str) -> String {
    Uuid::new_v5(&UUID_NS, format!("{kind}/{key}").as_bytes()).to_string()
}

pub fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ontap {
    pub cluster: Cluster,
    pub users: Vec<User>,
    #[serde(default)]
    pub rest_roles: Vec<super::roles::RestRole>,
    pub recovery_retention_hours: u64,
    pub aggregates: Vec<Aggregate>,
    pub svms: Vec<Svm>,
    pub interfaces: Vec<Interface>,
    pub export_policies: Vec<ExportPolicy>,
    pub volumes: Vec<Volume>,
    /// Deleted volumes kept for `recovery_retention_hours`.
    pub recovery_queue: Vec<DeletedVolume>,
    pub jobs: Vec<Job>,
    /// Next export policy id per cluster (ONTAP ids are large integers).
    pub next_policy_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub uuid: String,
    pub version: String,
}

impl Cluster {
    /// (generation, major, minor) parsed from `9.16.1`.
    pub fn version_parts(&self) -> (u64, u64, u64) {
        let mut it = self
            .version
            .split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0));
        (
            it.next().unwrap_or(9),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub password: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Aggregate {
    pub name: String,
    pub uuid: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Svm {
    pub name: String,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub uuid: String,
    pub ip: String,
    pub netmask: String,
    pub svm_uuid: String,
    pub svm_name: String,
    pub services: Vec<String>,
    pub up: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportPolicy {
    pub id: u64,
    pub name: String,
    pub svm_uuid: String,
    pub svm_name: String,
    pub rules: Vec<ExportRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRule {
    pub index: u64,
    pub clients: Vec<String>,
    pub protocols: Vec<String>,
    pub ro_rule: Vec<String>,
    pub rw_rule: Vec<String>,
    pub superuser: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    Online,
    Offline,
    Restricted,
}

impl VolumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Online => "online",
            VolumeState::Offline => "offline",
            VolumeState::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<VolumeState> {
        match s {
            "online" => Some(VolumeState::Online),
            "offline" => Some(VolumeState::Offline),
            "restricted" => Some(VolumeState::Restricted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub uuid: String,
    pub name: String,
    pub svm_uuid: String,
    pub svm_name: String,
    pub state: VolumeState,
    /// `rw` or `dp`.
    pub vol_type: String,
    pub size: u64,
    pub comment: Option<String>,
    pub create_time: DateTime<Utc>,
    /// Junction path while mounted.
    pub nas_path: Option<String>,
    pub export_policy: String,
    pub security_style: String,
    pub unix_permissions: String,
    pub aggregate: String,
    pub snapshot_policy: String,
    pub clone: Option<CloneOrigin>,
    pub files: FileTree,
    pub snapshots: Vec<Snapshot>,
    /// A FlexClone split in progress (`clone.split_initiated`).
    #[serde(default)]
    pub split_initiated: bool,
}

/// Where a FlexClone comes from (until it is split).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloneOrigin {
    pub parent_volume_uuid: String,
    pub parent_volume_name: String,
    pub parent_snapshot_uuid: String,
    pub parent_snapshot_name: String,
    pub parent_svm_uuid: String,
    pub parent_svm_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub uuid: String,
    pub name: String,
    pub comment: Option<String>,
    pub create_time: DateTime<Utc>,
    /// The volume's files at the time the snapshot was taken.
    pub files: FileTree,
    /// Logical size of the active file system when taken.
    pub size: u64,
    /// The volume's size when taken (a restore grows the volume back to it; 0 when unknown).
    #[serde(default)]
    pub volume_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedVolume {
    pub volume: Volume,
    /// The name shown in the recovery queue: `<name>_<dsid>` as ONTAP renames deleted volumes.
    pub queued_name: String,
    pub deleted_at: DateTime<Utc>,
}

/// Space numbers of a volume, derived from the extent identities of its trees.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SpaceUsage {
    /// Bytes of data written to this volume's active file system and snapshots, each shared extent once, not
    /// counting extents inherited from a FlexClone parent.
    pub used: u64,
    /// Logical bytes of the active file system.
    pub logical_used: u64,
    /// Bytes held only by snapshots.
    pub snapshot_used: u64,
    /// Bytes shared with the FlexClone parent.
    pub inherited: u64,
}

impl Volume {
    pub fn is_online(&self) -> bool {
        self.state == VolumeState::Online
    }

    pub fn snapshot(&self, uuid: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.uuid == uuid)
    }

    pub fn snapshot_by_name(&self, name: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.name == name)
    }

    /// Space accounting. `parent_base` is the FlexClone's parent snapshot tree when the volume is an unsplit clone.
    pub fn space(&self, parent_base: Option<&FileTree>) -> SpaceUsage {
        let mut base = HashMap::new();
        if let Some(b) = parent_base {
            b.extent_lengths(&mut base);
        }
        let mut active = HashMap::new();
        self.files.extent_lengths(&mut active);
        let mut snaps = HashMap::new();
        for s in &self.snapshots {
            s.files.extent_lengths(&mut snaps);
        }
        // An extent trimmed by a later write in the active file system may still be whole in a snapshot.
        let own_active: u64 = active
            .iter()
            .filter(|(id, _)| !base.contains_key(*id))
            .map(|(id, l)| (*l).max(snaps.get(id).copied().unwrap_or(0)))
            .sum();
        let snap_only: u64 = snaps
            .iter()
            .filter(|(id, _)| !base.contains_key(*id) && !active.contains_key(*id))
            .map(|(_, l)| *l)
            .sum();
        let inherited: u64 = active
            .iter()
            .filter(|(id, _)| base.contains_key(*id))
            .map(|(_, l)| *l)
            .sum();
        SpaceUsage {
            used: own_active + snap_only,
            logical_used: self.files.logical_used(),
            snapshot_used: snap_only,
            inherited,
        }
    }
}

impl Ontap {
    pub fn from_scenario(sc: &OntapScenario) -> Result<Ontap, String> {
        if let Some(u) = sc.users.iter().find(|u| {
            u.role != "admin"
                && u.role != "readonly"
                && !sc.rest_roles.iter().any(|r| r.name == u.role)
        }) {
            return Err(format!(
                "user {}: role must be admin, readonly or one of rest_roles, not {}",
                u.username, u.role
            ));
        }
        let cluster = Cluster {
            name: sc.cluster.name.clone(),
            uuid: scenario_uuid("cluster", &sc.cluster.name),
            version: sc.cluster.version.clone(),
        };
        let aggregates: Vec<Aggregate> = sc
            .aggregates
            .iter()
            .map(|a| Aggregate {
                name: a.name.clone(),
                uuid: scenario_uuid("aggr", &a.name),
                size: a.size.0,
            })
            .collect();
        let default_aggr = aggregates
            .first()
            .map(|a| a.name.clone())
            .ok_or("the scenario needs an aggregate")?;
        let mut o = Ontap {
            cluster,
            users: sc
                .users
                .iter()
                .map(|u| User {
                    username: u.username.clone(),
                    password: u.password.clone(),
                    role: u.role.clone(),
                })
                .collect(),
            rest_roles: sc.rest_roles.clone(),
            recovery_retention_hours: sc.volume_recovery_retention_hours,
            aggregates,
            svms: Vec::new(),
            interfaces: Vec::new(),
            export_policies: Vec::new(),
            volumes: Vec::new(),
            recovery_queue: Vec::new(),
            jobs: Vec::new(),
            next_policy_id: 8589934593,
        };
        for svm in &sc.svms {
            let svm_uuid = scenario_uuid("svm", &svm.name);
            o.svms.push(Svm {
                name: svm.name.clone(),
                uuid: svm_uuid.clone(),
            });
            for lif in &svm.interfaces {
                o.interfaces.push(Interface {
                    name: lif.name.clone(),
                    uuid: scenario_uuid("lif", &format!("{}/{}", svm.name, lif.name)),
                    ip: lif.ip.clone(),
                    netmask: lif.netmask.clone(),
                    svm_uuid: svm_uuid.clone(),
                    svm_name: svm.name.clone(),
                    services: lif.services.clone(),
                    up: lif.up,
                });
            }
            for p in &svm.export_policies {
                let id = o.next_policy_id;
                o.next_policy_id += 1;
                o.export_policies.push(ExportPolicy {
                    id,
                    name: p.name.clone(),
                    svm_uuid: svm_uuid.clone(),
                    svm_name: svm.name.clone(),
                    rules: p
                        .rules
                        .iter()
                        .enumerate()
                        .map(|(i, r)| ExportRule {
                            index: i as u64 + 1,
                            clients: r.clients.clone(),
                            protocols: r.protocols.clone(),
                            ro_rule: r.ro_rule.clone(),
                            rw_rule: r.rw_rule.clone(),
                            superuser: r.superuser.clone(),
                        })
                        .collect(),
                });
            }
            for v in &svm.volumes {
                let state = VolumeState::parse(&v.state)
                    .ok_or_else(|| format!("volume {}: bad state {}", v.name, v.state))?;
                let mut files = FileTree::default();
                for d in &v.directories {
                    files
                        .mkdir_p(d, 0o755)
                        .map_err(|e| format!("volume {}: directory {d}: {e}", v.name))?;
                }
                for f in &v.files {
                    let parent = super::fs::parent_of(f.path.trim_matches('/')).to_string();
                    files
                        .mkdir_p(&parent, 0o755)
                        .map_err(|e| format!("volume {}: {}: {e}", v.name, f.path))?;
                    files
                        .create_file(&f.path, f.size.0)
                        .map_err(|e| format!("volume {}: {}: {e}", v.name, f.path))?;
                }
                let now = Utc::now();
                let snapshots = v
                    .snapshots
                    .iter()
                    .map(|s| Snapshot {
                        uuid: scenario_uuid(
                            "snapshot",
                            &format!("{}/{}/{}", svm.name, v.name, s.name),
                        ),
                        name: s.name.clone(),
                        comment: s.comment.clone(),
                        create_time: now,
                        files: files.clone(),
                        size: files.logical_used(),
                        volume_size: v.size.0,
                    })
                    .collect();
                if o.volume_by_name(&svm_uuid, &v.name).is_some() {
                    return Err(format!("duplicate volume {} in SVM {}", v.name, svm.name));
                }
                o.volumes.push(Volume {
                    uuid: scenario_uuid("volume", &format!("{}/{}", svm.name, v.name)),
                    name: v.name.clone(),
                    svm_uuid: svm_uuid.clone(),
                    svm_name: svm.name.clone(),
                    state,
                    vol_type: "rw".into(),
                    size: v.size.0,
                    comment: v.comment.clone(),
                    create_time: now,
                    nas_path: v.nas_path.clone().filter(|_| state == VolumeState::Online),
                    export_policy: v.export_policy.clone(),
                    security_style: "unix".into(),
                    unix_permissions: "755".into(),
                    aggregate: v.aggregate.clone().unwrap_or_else(|| default_aggr.clone()),
                    snapshot_policy: "default".into(),
                    clone: None,
                    files,
                    snapshots,
                    split_initiated: false,
                });
            }
        }
        if sc.generate_volumes > 0 {
            let svm = o
                .svms
                .first()
                .cloned()
                .ok_or("generate_volumes needs at least one SVM")?;
            let now = Utc::now();
            for i in 1..=sc.generate_volumes {
                let name = format!("gen_vol_{i:05}");
                o.volumes.push(Volume {
                    uuid: scenario_uuid("volume", &format!("{}/{}", svm.name, name)),
                    name,
                    svm_uuid: svm.uuid.clone(),
                    svm_name: svm.name.clone(),
                    state: VolumeState::Online,
                    vol_type: "rw".into(),
                    size: 1 << 30,
                    comment: None,
                    create_time: now,
                    nas_path: None,
                    export_policy: "default".into(),
                    security_style: "unix".into(),
                    unix_permissions: "755".into(),
                    aggregate: default_aggr.clone(),
                    snapshot_policy: "default".into(),
                    clone: None,
                    files: FileTree::default(),
                    snapshots: Vec::new(),
                    split_initiated: false,
                });
            }
        }
        Ok(o)
    }

    pub fn svm_by_name(&self, name: &str) -> Option<&Svm> {
        self.svms.iter().find(|s| s.name == name)
    }

    pub fn svm_by_uuid(&self, uuid: &str) -> Option<&Svm> {
        self.svms.iter().find(|s| s.uuid == uuid)
    }

    pub fn volume(&self, uuid: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.uuid == uuid)
    }

    pub fn volume_mut(&mut self, uuid: &str) -> Option<&mut Volume> {
        self.volumes.iter_mut().find(|v| v.uuid == uuid)
    }

    pub fn volume_by_name(&self, svm_uuid: &str, name: &str) -> Option<&Volume> {
        self.volumes
            .iter()
            .find(|v| v.svm_uuid == svm_uuid && v.name == name)
    }

    /// The online volume of an SVM mounted exactly at `path` (junction paths compare case-insensitively).
    pub fn volume_at_junction(&self, svm_uuid: &str, path: &str) -> Option<&Volume> {
        let want = normalize_junction(path);
        self.volumes.iter().find(|v| {
            v.svm_uuid == svm_uuid
                && v.is_online()
                && v.nas_path
                    .as_deref()
                    .is_some_and(|p| normalize_junction(p).eq_ignore_ascii_case(&want))
        })
    }

    /// The SVM that owns a data LIF with this address.
    pub fn svm_for_lif_ip(&self, ip: &str) -> Option<&Svm> {
        let lif = self.interfaces.iter().find(|i| i.ip == ip && i.up)?;
        self.svm_by_uuid(&lif.svm_uuid)
    }

    /// The snapshot tree a FlexClone still shares with its parent (None when not a clone or already split).
    pub fn clone_base(&self, v: &Volume) -> Option<&FileTree> {
        let origin = v.clone.as_ref()?;
        let parent = self.volume(&origin.parent_volume_uuid).or_else(|| {
            self.recovery_queue
                .iter()
                .map(|d| &d.volume)
                .find(|p| p.uuid == origin.parent_volume_uuid)
        })?;
        parent
            .snapshot(&origin.parent_snapshot_uuid)
            .map(|s| &s.files)
    }

    /// Volumes (live or in the recovery queue) that are unsplit FlexClones of this volume.
    pub fn clone_children<'a>(
        &'a self,
        parent_uuid: &'a str,
    ) -> impl Iterator<Item = (&'a Volume, bool)> + 'a {
        let live = self.volumes.iter().map(|v| (v, false));
        let queued = self.recovery_queue.iter().map(|d| (&d.volume, true));
        live.chain(queued).filter(move |(v, _)| {
            v.clone
                .as_ref()
                .is_some_and(|c| c.parent_volume_uuid == parent_uuid)
        })
    }

    /// Names of volumes (live or queued for recovery) whose FlexClone is backed by this snapshot.
    pub fn snapshot_clone_owners(&self, parent_uuid: &str, snapshot_uuid: &str) -> Vec<String> {
        self.clone_children(parent_uuid)
            .filter(|(v, _)| {
                v.clone
                    .as_ref()
                    .is_some_and(|c| c.parent_snapshot_uuid == snapshot_uuid)
            })
            .map(|(v, queued)| {
                if queued {
                    format!("{} (recovery queue)", v.name)
                } else {
                    v.name.clone()
                }
            })
            .collect()
    }

    /// Drops recovery-queue entries older than the retention.
    pub fn expire_recovery_queue(&mut self, now: DateTime<Utc>) {
        let keep = chrono::Duration::hours(self.recovery_retention_hours as i64);
        self.recovery_queue.retain(|d| now - d.deleted_at < keep);
    }
}

/// Junction paths compare without a trailing `/`.
pub fn normalize_junction(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn space_counts_shared_extents_once() {
        let mut o = Ontap::from_scenario(&Scenario::default_scenario().ontap).unwrap();
        let idx = o
            .volumes
            .iter()
            .position(|v| v.name == "pve_images")
            .unwrap();
        let before = o.volumes[idx].space(None);
        assert_eq!(before.used, 56 << 30);
        assert_eq!(before.logical_used, 56 << 30);

        // A snapshot shares everything; deleting a file afterwards moves its blocks to snapshot-only.
        let files = o.volumes[idx].files.clone();
        o.volumes[idx].snapshots.push(Snapshot {
            uuid: "s".into(),
            name: "s".into(),
            comment: None,
            create_time: Utc::now(),
            size: files.logical_used(),
            volume_size: 0,
            files: files.clone(),
        });
        assert_eq!(o.volumes[idx].space(None).used, 56 << 30);
        o.volumes[idx]
            .files
            .remove("images/101/vm-101-disk-0.raw")
            .unwrap();
        let s = o.volumes[idx].space(None);
        assert_eq!(
            (s.used, s.snapshot_used, s.logical_used),
            (56 << 30, 16 << 30, 40 << 30)
        );

        // A FlexClone of that snapshot costs nothing until written to.
        let mut clone = o.volumes[idx].clone();
        clone.snapshots.clear();
        clone.files = files.clone();
        let base = &o.volumes[idx].snapshots[0].files;
        let c = clone.space(Some(base));
        assert_eq!((c.used, c.inherited), (0, 56 << 30));
        clone
            .files
            .write("images/100/vm-100-disk-1.raw", 1 << 20)
            .unwrap();
        assert_eq!(clone.space(Some(base)).used, 1 << 20);
    }

    #[test]
    fn junctions_resolve_through_lifs() {
        let o = Ontap::from_scenario(&Scenario::default_scenario().ontap).unwrap();
        let svm = o.svm_for_lif_ip("192.0.2.10").unwrap();
        assert_eq!(
            o.volume_at_junction(&svm.uuid, "/PVE_images/")
                .unwrap()
                .name,
            "pve_images"
        );
        assert!(o.volume_at_junction(&svm.uuid, "/data01").is_none());
    }
}
