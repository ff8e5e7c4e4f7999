//! Pure planning of a VmDiskClone: which disks, on which ONTAP volume, copied to which path.

use std::collections::BTreeMap;

use crate::controller::naming;
use crate::proxmox::drive::{DiskKey, Drive};

/// Why planning failed; every variant says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("VM {vmid} has no disk {drive}")]
    NoSuchDisk { vmid: u32, drive: String },
    #[error(
        "disk {drive} of VM {vmid} is a CD-ROM, empty or a cloud-init drive and cannot be cloned"
    )]
    NotADisk { vmid: u32, drive: String },
    #[error("disk {drive} ({volid}) is on storage {storage:?}, which is not an NFS storage served by an OntapCluster this namespace may use")]
    NotOnOntap {
        drive: String,
        volid: String,
        storage: String,
    },
    #[error("disk {drive} has volume {volid:?}, which is not a file image of this VM on a directory-style storage")]
    UnsupportedVolume { drive: String, volid: String },
    #[error("VM {vmid} has no disk on an ONTAP-backed NFS storage")]
    NothingToClone { vmid: u32 },
}

/// Every Proxmox disk key that can hold a cloneable disk (not `unusedN`), as [`DiskKey`] parses it.
pub fn is_disk_key(key: &str) -> bool {
    key.parse::<DiskKey>().is_ok_and(DiskKey::is_drive)
}

/// The parts of a drive string planning needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveValue {
    /// `storage:volname`, `none`, `cdrom`, or a path.
    pub volume: String,
    pub media_cdrom: bool,
}

/// The volume and media of a drive property string, as [`Drive`] parses it. A value Proxmox would not write
/// (no volume, an option without a value) has no volume, so it is never taken for a disk.
pub fn parse_drive(value: &str) -> DriveValue {
    match Drive::parse(value) {
        Ok(d) => DriveValue {
            media_cdrom: d.is_cdrom(),
            volume: d.file,
        },
        Err(_) => DriveValue {
            volume: String::new(),
            media_cdrom: false,
        },
    }
}

/// A disk selected for copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceDisk {
    pub drive: String,
    pub volid: String,
    pub storage: String,
    /// Owner VMID directory of the volume.
    pub owner_vmid: u32,
    /// File name inside `images/<owner>/`.
    pub file: String,
    pub format: String,
}

impl SourceDisk {
    /// Path of the file relative to the storage root.
    pub fn rel_path(&self) -> String {
        format!("images/{}/{}", self.owner_vmid, self.file)
    }
}

/// Parses a dir/NFS image volname `<vmid>/<file>` or linked-clone `<basevmid>/<basefile>/<vmid>/<file>`.
fn parse_image_volname(volname: &str) -> Option<(u32, String, String)> {
    let parts: Vec<&str> = volname.split('/').collect();
    let (owner, file) = match parts.as_slice() {
        [owner, file] => (*owner, *file),
        [_, _, owner, file] => (*owner, *file),
        _ => return None,
    };
    let owner: u32 = owner.parse().ok()?;
    let format = ["raw", "qcow2", "vmdk"]
        .into_iter()
        .find(|ext| file.ends_with(&format!(".{ext}")))?;
    if file.chars().any(char::is_whitespace) {
        return None;
    }
    Some((owner, file.to_owned(), format.to_owned()))
}

fn is_cloudinit(volume: &str) -> bool {
    volume.contains("cloudinit")
}

/// Selects the disks to copy from a VM config (pending values merged, as Proxmox returns it by default).
/// `backed(storage)` tells whether a storage id resolves to an ONTAP volume.
pub fn select_disks(
    vmid: u32,
    config: &BTreeMap<String, String>,
    wanted: Option<&[String]>,
    backed: impl Fn(&str) -> bool,
) -> Result<Vec<SourceDisk>, PlanError> {
    let keys: Vec<String> = match wanted {
        Some(list) => list.to_vec(),
        None => config.keys().filter(|k| is_disk_key(k)).cloned().collect(),
    };
    let explicit = wanted.is_some();
    let mut out = Vec::new();
    for drive in keys {
        let Some(raw) = config.get(&drive) else {
            return Err(PlanError::NoSuchDisk { vmid, drive });
        };
        let d = parse_drive(raw);
        let skip =
            d.media_cdrom || d.volume == "none" || d.volume == "cdrom" || is_cloudinit(&d.volume);
        if skip {
            if explicit {
                return Err(PlanError::NotADisk { vmid, drive });
            }
            continue;
        }
        let Some((storage, volname)) = d.volume.split_once(':') else {
            // An absolute path or device: never ONTAP-managed from our point of view.
            if explicit {
                return Err(PlanError::UnsupportedVolume {
                    drive,
                    volid: d.volume,
                });
            }
            continue;
        };
        if !backed(storage) {
            if explicit {
                return Err(PlanError::NotOnOntap {
                    drive,
                    volid: d.volume.clone(),
                    storage: storage.to_owned(),
                });
            }
            continue;
        }
        let Some((owner_vmid, file, format)) = parse_image_volname(volname) else {
            return Err(PlanError::UnsupportedVolume {
                drive,
                volid: d.volume,
            });
        };
        out.push(SourceDisk {
            drive,
            volid: d.volume.clone(),
            storage: storage.to_owned(),
            owner_vmid,
            file,
            format,
        });
    }
    if out.is_empty() {
        return Err(PlanError::NothingToClone { vmid });
    }
    Ok(out)
}

/// Where a copy goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCopy {
    pub source: SourceDisk,
    /// Directory VMID of the copy (source VM, or the new VM).
    pub target_vmid: u32,
    pub file: String,
}

impl PlannedCopy {
    pub fn rel_path(&self) -> String {
        format!("images/{}/{}", self.target_vmid, self.file)
    }

    pub fn volid(&self) -> String {
        format!("{}:{}/{}", self.source.storage, self.target_vmid, self.file)
    }
}

/// Plans copy names. Every copy carries the object's hash, so it is ours by name (derived from the UID, never
/// from status) and never collides with a file someone else made: `vm-<vmid>-pvo-<hash>-<drive>.<fmt>` with the
/// source VM's id, or the new VM's for `attach: NewVm` (Proxmox lists any `vm-<id>-*` file as that VM's).
pub fn plan_copies(
    vmid: u32,
    hash: &str,
    disks: &[SourceDisk],
    new_vmid: Option<u32>,
) -> Vec<PlannedCopy> {
    let target = new_vmid.unwrap_or(vmid);
    disks
        .iter()
        .map(|d| PlannedCopy {
            source: d.clone(),
            target_vmid: target,
            file: naming::same_vm_copy_file(target, hash, &d.drive, &d.format),
        })
        .collect()
}

/// Lowest `unusedN` key not present in `config`.
pub fn free_unused_key(config: &BTreeMap<String, String>, taken: &[String]) -> Option<String> {
    (0..256)
        .map(|n| format!("unused{n}"))
        .find(|k| !config.contains_key(k) && !taken.contains(k))
}

/// Config keys copied to a new VM: everything but disks, unused volumes, state, locks, identity and snapshots.
/// Disks are added separately; NICs get their MAC removed so Proxmox generates fresh ones.
/// Longest VM description Proxmox keeps (`description`, 8 KiB).
const DESCRIPTION_MAX: usize = 8 * 1024;

/// The description of a VM we create: the source's notes, then our ownership marker as the last line (cut to
/// fit Proxmox's limit; the marker is never cut).
pub fn marked_description(source: Option<&str>, marker: &str) -> String {
    let notes = source.unwrap_or_default().trim_end();
    let room = DESCRIPTION_MAX.saturating_sub(marker.len() + 1);
    let mut cut = notes.len().min(room);
    while !notes.is_char_boundary(cut) {
        cut -= 1;
    }
    let notes = &notes[..cut];
    if notes.is_empty() {
        marker.to_owned()
    } else {
        format!("{notes}\n{marker}")
    }
}

/// Whether a VM's description ends with `marker` (as [`marked_description`] writes it).
pub fn description_marked(description: Option<&str>, marker: &str) -> bool {
    description
        .and_then(|d| d.trim_end().lines().last())
        .is_some_and(|last| last.trim() == marker)
}

pub fn new_vm_config(source: &BTreeMap<String, String>, name: &str) -> BTreeMap<String, String> {
    const DROP: &[&str] = &[
        "digest",
        "lock",
        "vmstate",
        "runningmachine",
        "runningcpu",
        "parent",
        "smbios1",
        "vmgenid",
        "meta",
        "name",
        "template",
        "snaptime",
        "pending",
        "delete",
    ];
    let mut out = BTreeMap::new();
    for (k, v) in source {
        if DROP.contains(&k.as_str()) || k.starts_with("unused") {
            continue;
        }
        if is_disk_key(k) {
            // CD-ROM drives (ISO or empty) are shared safely; disks come from the copies; cloud-init drives are
            // per VM and not copied.
            let d = parse_drive(v);
            if d.media_cdrom && !is_cloudinit(&d.volume) {
                out.insert(k.clone(), v.clone());
            }
            continue;
        }
        if let Some(n) = k.strip_prefix("net").filter(|n| n.parse::<u32>().is_ok()) {
            let _ = n;
            out.insert(k.clone(), strip_mac(v));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out.insert("name".into(), name.to_owned());
    out
}

/// Keeps only boot devices that exist in `config` (`boot: order=scsi0;ide2;net0`); Proxmox refuses an order
/// naming a missing device.
pub fn fix_boot_order(config: &mut BTreeMap<String, String>) {
    let Some(boot) = config.get("boot").cloned() else {
        return;
    };
    let Some(order) = boot.strip_prefix("order=") else {
        return;
    };
    let kept: Vec<&str> = order
        .split(';')
        .filter(|dev| config.contains_key(*dev))
        .collect();
    if kept.is_empty() {
        config.remove("boot");
    } else {
        config.insert("boot".into(), format!("order={}", kept.join(";")));
    }
}

/// `virtio=BC:24:11:00:00:01,bridge=vmbr0` → `virtio,bridge=vmbr0`; `macaddr=` is dropped too.
fn strip_mac(net: &str) -> String {
    const MODELS: &[&str] = &[
        "e1000",
        "e1000-82540em",
        "e1000-82544gc",
        "e1000-82545em",
        "e1000e",
        "i82551",
        "i82557b",
        "i82559er",
        "ne2k_isa",
        "ne2k_pci",
        "pcnet",
        "rtl8139",
        "virtio",
        "vmxnet3",
    ];
    net.split(',')
        .filter(|p| !p.starts_with("macaddr="))
        .map(|p| match p.split_once('=') {
            Some((model, _)) if MODELS.contains(&model) => model.to_owned(),
            _ => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Drive value for a copy attached to a new VM: the copy's volid with the source's options, minus `size`
/// (Proxmox fills it) and any `file=`/`volume=` key.
pub fn attached_drive_value(source_value: &str, volid: &str) -> String {
    let mut parts = vec![volid.to_owned()];
    for (i, p) in source_value.split(',').enumerate() {
        if i == 0 && !p.contains('=') {
            continue;
        }
        if p.starts_with("file=") || p.starts_with("volume=") || p.starts_with("size=") {
            continue;
        }
        parts.push(p.to_owned());
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn disk_keys() {
        for k in [
            "ide0",
            "ide3",
            "sata5",
            "scsi0",
            "scsi30",
            "virtio15",
            "efidisk0",
            "tpmstate0",
        ] {
            assert!(is_disk_key(k), "{k}");
        }
        for k in [
            "ide4", "sata6", "scsi31", "virtio16", "scsi01", "unused0", "net0", "efidisk1", "scsi",
        ] {
            assert!(!is_disk_key(k), "{k}");
        }
    }

    #[test]
    fn parses_drive_strings() {
        assert_eq!(
            parse_drive("ONTAP01:100/vm-100-disk-0.qcow2,size=32G,iothread=1"),
            DriveValue {
                volume: "ONTAP01:100/vm-100-disk-0.qcow2".into(),
                media_cdrom: false
            }
        );
        assert!(parse_drive("none,media=cdrom").media_cdrom);
        assert_eq!(
            parse_drive("media=disk,file=a:100/x.raw").volume,
            "a:100/x.raw"
        );
    }

    fn vm_config() -> BTreeMap<String, String> {
        cfg(&[
            ("scsi0", "ONTAP01:100/vm-100-disk-0.qcow2,size=32G"),
            ("virtio1", "ONTAP02:100/vm-100-disk-1.raw,size=8G"),
            ("ide2", "none,media=cdrom"),
            ("ide0", "ONTAP01:100/vm-100-cloudinit.qcow2,media=cdrom"),
            ("sata0", "local-lvm:vm-100-disk-2,size=4G"),
            (
                "efidisk0",
                "ONTAP01:100/vm-100-disk-3.raw,efitype=4m,size=528K",
            ),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ("unused0", "ONTAP01:100/vm-100-disk-9.raw"),
        ])
    }

    fn ontap(s: &str) -> bool {
        s.starts_with("ONTAP")
    }

    #[test]
    fn default_selection_takes_every_ontap_disk_and_skips_the_rest() {
        let disks = select_disks(100, &vm_config(), None, ontap).unwrap();
        let drives: Vec<_> = disks.iter().map(|d| d.drive.as_str()).collect();
        assert_eq!(drives, ["efidisk0", "scsi0", "virtio1"]);
        assert_eq!(disks[1].rel_path(), "images/100/vm-100-disk-0.qcow2");
        assert_eq!(disks[2].format, "raw");
    }

    #[test]
    fn explicit_selection_errors_clearly() {
        let c = vm_config();
        let err = select_disks(100, &c, Some(&["sata0".into()]), ontap).unwrap_err();
        assert!(
            matches!(err, PlanError::NotOnOntap { ref storage, .. } if storage == "local-lvm"),
            "{err}"
        );
        let err = select_disks(100, &c, Some(&["ide2".into()]), ontap).unwrap_err();
        assert!(matches!(err, PlanError::NotADisk { .. }));
        let err = select_disks(100, &c, Some(&["scsi5".into()]), ontap).unwrap_err();
        assert!(matches!(err, PlanError::NoSuchDisk { .. }));
        let ok = select_disks(100, &c, Some(&["virtio1".into()]), ontap).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(
            select_disks(100, &c, None, |_| false),
            Err(PlanError::NothingToClone { vmid: 100 })
        );
    }

    #[test]
    fn copies_are_named_per_target() {
        let disks = select_disks(100, &vm_config(), None, ontap).unwrap();
        let same = plan_copies(100, "abc123", &disks, None);
        assert_eq!(
            same[1].rel_path(),
            "images/100/vm-100-pvo-abc123-scsi0.qcow2"
        );
        assert_eq!(same[1].volid(), "ONTAP01:100/vm-100-pvo-abc123-scsi0.qcow2");
        let new = plan_copies(100, "abc123", &disks, Some(200));
        let names: Vec<_> = new.iter().map(|c| c.volid()).collect();
        // A new VM's copies carry the hash too: ours by name, never a file someone else made.
        assert_eq!(
            names,
            [
                "ONTAP01:200/vm-200-pvo-abc123-efidisk0.raw",
                "ONTAP01:200/vm-200-pvo-abc123-scsi0.qcow2",
                "ONTAP02:200/vm-200-pvo-abc123-virtio1.raw"
            ]
        );
    }

    #[test]
    fn descriptions_carry_the_marker_last() {
        let m = "pveontap.io/owner=0123456789ab/u";
        assert_eq!(marked_description(None, m), m);
        let d = marked_description(Some("notes\n"), m);
        assert_eq!(d, format!("notes\n{m}"));
        assert!(description_marked(Some(&d), m));
        assert!(!description_marked(Some(&format!("{m}\nmore")), m));
        assert!(!description_marked(None, m));
        let long = marked_description(Some(&"ü".repeat(9000)), m);
        assert!(long.len() <= DESCRIPTION_MAX && description_marked(Some(&long), m));
    }

    #[test]
    fn new_vm_config_drops_identity_and_macs() {
        let out = new_vm_config(&vm_config(), "copy");
        assert_eq!(out.get("name").map(String::as_str), Some("copy"));
        assert_eq!(
            out.get("net0").map(String::as_str),
            Some("virtio,bridge=vmbr0")
        );
        // Only the CD-ROM survives among the drives; the cloud-init drive and the disks do not.
        let drives: Vec<_> = out
            .keys()
            .filter(|k| is_disk_key(k) || k.starts_with("unused"))
            .collect();
        assert_eq!(drives, ["ide2"]);
        let mut boot = BTreeMap::new();
        boot.insert("boot".to_string(), "order=scsi0;ide0;net0".to_string());
        boot.insert("scsi0".to_string(), "x".to_string());
        boot.insert("net0".to_string(), "y".to_string());
        fix_boot_order(&mut boot);
        assert_eq!(boot["boot"], "order=scsi0;net0");
        assert_eq!(
            attached_drive_value(
                "ONTAP01:100/vm-100-disk-0.qcow2,size=32G,iothread=1",
                "ONTAP01:200/vm-200-disk-0.qcow2"
            ),
            "ONTAP01:200/vm-200-disk-0.qcow2,iothread=1"
        );
        let mut c = BTreeMap::new();
        c.insert("unused0".to_string(), "x".to_string());
        assert_eq!(
            free_unused_key(&c, &["unused1".into()]).as_deref(),
            Some("unused2")
        );
    }
}
