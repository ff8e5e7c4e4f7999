//! Proxmox drive strings, disk keys and volume ids.
//!
//! A VM config maps disk keys (`scsi0`, `unused3`, ...) to property strings such as
//! `ONTAP01:100/vm-100-disk-0.qcow2,size=32G` or `none,media=cdrom`. Volume ids are `<storage>:<volname>`; on
//! dir/NFS storages image volnames are `<vmid>/<file>` (or `<basevmid>/<basefile>/<vmid>/<file>` for linked clones)
//! and the owner is the directory's VMID, not the number inside the file name.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DriveParseError {
    #[error("'{0}' is not a Proxmox disk key")]
    InvalidKey(String),
    #[error("empty drive string")]
    Empty,
    #[error("drive option '{0}' has no value")]
    OptionWithoutValue(String),
    #[error("drive option '{0}' given twice")]
    DuplicateOption(String),
    #[error("drive string has no volume ('file=')")]
    NoVolume,
    #[error("'{0}' is not a volume id (<storage>:<volume>)")]
    InvalidVolumeId(String),
    #[error("'{0}' is not a valid Proxmox storage id")]
    InvalidStorageId(String),
    #[error("unable to parse directory volume name '{0}'")]
    InvalidVolumeName(String),
    #[error("invalid size '{0}'")]
    InvalidSize(String),
}

// ---------------------------------------------------------------------------------------------------------------
// Disk keys

/// The bus (or pseudo-bus) of a config key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bus {
    Ide,
    Sata,
    Scsi,
    Virtio,
    EfiDisk,
    TpmState,
    /// `unusedN`: a volume owned by the VM but not attached.
    Unused,
}

impl Bus {
    fn prefix(self) -> &'static str {
        match self {
            Bus::Ide => "ide",
            Bus::Sata => "sata",
            Bus::Scsi => "scsi",
            Bus::Virtio => "virtio",
            Bus::EfiDisk => "efidisk",
            Bus::TpmState => "tpmstate",
            Bus::Unused => "unused",
        }
    }

    /// Highest valid index on this bus.
    pub fn max_index(self) -> u16 {
        match self {
            Bus::Ide => 3,
            Bus::Sata => 5,
            Bus::Scsi => 30,
            Bus::Virtio => 15,
            Bus::EfiDisk | Bus::TpmState => 0,
            Bus::Unused => 255,
        }
    }

    const ALL: [Bus; 7] = [
        Bus::Ide,
        Bus::Sata,
        Bus::Scsi,
        Bus::Virtio,
        Bus::EfiDisk,
        Bus::TpmState,
        Bus::Unused,
    ];
}

/// A config key that holds a volume: a drive (`ide0`–`ide3`, `sata0`–`sata5`, `scsi0`–`scsi30`, `virtio0`–`virtio15`,
/// `efidisk0`, `tpmstate0`) or `unused0`–`unused255`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiskKey {
    pub bus: Bus,
    pub index: u16,
}

impl DiskKey {
    pub fn new(bus: Bus, index: u16) -> Option<Self> {
        (index <= bus.max_index()).then_some(Self { bus, index })
    }

    /// True for drives (everything but `unusedN`).
    pub fn is_drive(self) -> bool {
        self.bus != Bus::Unused
    }

    pub fn is_unused(self) -> bool {
        self.bus == Bus::Unused
    }

    /// Every drive key Proxmox knows, in bus order (not `unusedN`).
    pub fn all_drives() -> impl Iterator<Item = DiskKey> {
        Bus::ALL
            .into_iter()
            .filter(|b| *b != Bus::Unused)
            .flat_map(|bus| (0..=bus.max_index()).map(move |index| DiskKey { bus, index }))
    }

    /// The lowest `unusedN` key not present among `existing` config keys (as Proxmox picks it).
    pub fn first_free_unused<'a>(existing: impl IntoIterator<Item = &'a str>) -> Option<DiskKey> {
        let taken: std::collections::HashSet<u16> = existing
            .into_iter()
            .filter_map(|k| k.parse::<DiskKey>().ok())
            .filter(|k| k.is_unused())
            .map(|k| k.index)
            .collect();
        (0..=Bus::Unused.max_index())
            .find(|i| !taken.contains(i))
            .map(|index| DiskKey {
                bus: Bus::Unused,
                index,
            })
    }
}

impl FromStr for DiskKey {
    type Err = DriveParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || DriveParseError::InvalidKey(s.to_string());
        let bus = Bus::ALL
            .into_iter()
            .filter(|b| s.starts_with(b.prefix()))
            // "efidisk"/"sata"/... prefixes are unambiguous; take the longest match to be safe.
            .max_by_key(|b| b.prefix().len())
            .ok_or_else(invalid)?;
        let digits = &s[bus.prefix().len()..];
        // Proxmox keys have no leading zeros ("scsi01" is not scsi1).
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(invalid());
        }
        let index: u16 = digits.parse().map_err(|_| invalid())?;
        DiskKey::new(bus, index).ok_or_else(invalid)
    }
}

impl fmt::Display for DiskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.bus.prefix(), self.index)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Drive strings

/// A parsed drive property string: the volume (`file`) and the remaining options in their original order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drive {
    pub file: String,
    pub options: Vec<(String, String)>,
}

/// What a drive holds, as far as cloning is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveKind {
    /// A disk image on a storage.
    Disk(VolumeId),
    /// A CD-ROM (ISO image or host drive).
    Cdrom,
    /// An empty drive (`none`).
    Empty,
    /// A cloud-init drive.
    CloudInit,
    /// A host path or device (root-only; never cloned).
    HostPath(String),
}

impl Drive {
    /// Parses a drive value; the first element without `=` (or `file=`/`volume=`) is the volume.
    pub fn parse(s: &str) -> Result<Drive, DriveParseError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DriveParseError::Empty);
        }
        let mut file = None;
        let mut options: Vec<(String, String)> = Vec::new();
        for (i, part) in s.split(',').enumerate() {
            match part.split_once('=') {
                Some((k, v)) if k == "file" || k == "volume" => {
                    if file.replace(v.to_string()).is_some() {
                        return Err(DriveParseError::DuplicateOption("file".into()));
                    }
                }
                Some((k, v)) => {
                    if options.iter().any(|(ok, _)| ok == k) {
                        return Err(DriveParseError::DuplicateOption(k.to_string()));
                    }
                    options.push((k.to_string(), v.to_string()));
                }
                None if i == 0 => file = Some(part.to_string()),
                None => return Err(DriveParseError::OptionWithoutValue(part.to_string())),
            }
        }
        let file = file
            .filter(|f| !f.is_empty())
            .ok_or(DriveParseError::NoVolume)?;
        Ok(Drive { file, options })
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or replaces) an option, keeping the position of an existing one.
    pub fn set_option(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.options.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.options.push((key.to_string(), value)),
        }
    }

    pub fn remove_option(&mut self, key: &str) -> Option<String> {
        let pos = self.options.iter().position(|(k, _)| k == key)?;
        Some(self.options.remove(pos).1)
    }

    pub fn is_cdrom(&self) -> bool {
        self.option("media") == Some("cdrom")
    }

    /// Classifies the drive: only [`DriveKind::Disk`] is ever cloned.
    pub fn kind(&self) -> DriveKind {
        if self.file == "none" {
            return DriveKind::Empty;
        }
        if self.file == "cdrom" {
            return DriveKind::Cdrom;
        }
        if self.file.starts_with('/') {
            return DriveKind::HostPath(self.file.clone());
        }
        match self.file.parse::<VolumeId>() {
            Ok(volid) => {
                if volid.is_cloud_init() {
                    DriveKind::CloudInit
                } else if self.is_cdrom() || volid.volname.starts_with("iso/") {
                    DriveKind::Cdrom
                } else {
                    DriveKind::Disk(volid)
                }
            }
            // A bare word that is no volume id: treat like a host drive, never as a disk to copy.
            Err(_) if self.is_cdrom() => DriveKind::Cdrom,
            Err(_) => DriveKind::HostPath(self.file.clone()),
        }
    }

    /// The `size=` option in bytes (Proxmox sizes are binary: K, M, G, T; plain numbers are bytes).
    pub fn size_bytes(&self) -> Result<Option<u64>, DriveParseError> {
        self.option("size").map(parse_size).transpose()
    }
}

impl FromStr for Drive {
    type Err = DriveParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Drive::parse(s)
    }
}

impl fmt::Display for Drive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        for (k, v) in &self.options {
            write!(f, ",{k}={v}")?;
        }
        Ok(())
    }
}

/// Parses a Proxmox disk size (`32G`, `512M`, `4194304`) into bytes.
pub fn parse_size(s: &str) -> Result<u64, DriveParseError> {
    let invalid = || DriveParseError::InvalidSize(s.to_string());
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(invalid()),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(invalid);
    }
    let f: f64 = num.parse().map_err(|_| invalid())?;
    if !f.is_finite() || f < 0.0 {
        return Err(invalid());
    }
    Ok((f * mult as f64).round() as u64)
}

// ---------------------------------------------------------------------------------------------------------------
// Volume ids and names

/// Disk image formats Proxmox accepts on dir/NFS storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskFormat {
    Raw,
    Qcow2,
    Vmdk,
    Subvol,
}

impl DiskFormat {
    pub fn extension(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Subvol => "subvol",
        }
    }

    fn from_file_name(file: &str) -> Option<DiskFormat> {
        let (_, ext) = file.rsplit_once('.')?;
        match ext {
            "raw" => Some(DiskFormat::Raw),
            "qcow2" => Some(DiskFormat::Qcow2),
            "vmdk" => Some(DiskFormat::Vmdk),
            "subvol" => Some(DiskFormat::Subvol),
            _ => None,
        }
    }
}

impl fmt::Display for DiskFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// `<storage>:<volname>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VolumeId {
    pub storage: String,
    pub volname: String,
}

/// Checks a Proxmox storage id (`^[a-z][a-z0-9\-_.]*[a-z0-9]$`, case-insensitive).
pub fn is_valid_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

impl VolumeId {
    pub fn new(storage: impl Into<String>, volname: impl Into<String>) -> Self {
        Self {
            storage: storage.into(),
            volname: volname.into(),
        }
    }

    /// The volume is a cloud-init image (`<storage>:cloudinit` on create, `vm-<id>-cloudinit.<fmt>` afterwards).
    pub fn is_cloud_init(&self) -> bool {
        self.volname == "cloudinit"
            || self.volname.rsplit('/').next().is_some_and(|f| {
                f.starts_with("vm-") && (f.contains("-cloudinit.") || f.ends_with("-cloudinit"))
            })
    }

    /// Parses the volname as a dir/NFS image volume.
    pub fn image(&self) -> Result<ImageVolume, DriveParseError> {
        ImageVolume::parse(&self.volname)
    }
}

impl FromStr for VolumeId {
    type Err = DriveParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (storage, volname) = s
            .split_once(':')
            .ok_or_else(|| DriveParseError::InvalidVolumeId(s.to_string()))?;
        if !is_valid_storage_id(storage) {
            return Err(DriveParseError::InvalidStorageId(storage.to_string()));
        }
        if volname.is_empty() || volname.chars().any(char::is_whitespace) {
            return Err(DriveParseError::InvalidVolumeId(s.to_string()));
        }
        Ok(VolumeId::new(storage, volname))
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.volname)
    }
}

/// What an image file is, judged by its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageFileKind {
    /// `vm-<vmid>-disk-<n>.<fmt>`.
    Disk { vmid: u32, index: u32 },
    /// `base-<vmid>-disk-<n>.<fmt>` (template base image) or another `base-` name.
    Base { vmid: u32 },
    /// `vm-<vmid>-cloudinit.<fmt>`.
    CloudInit { vmid: u32 },
    /// `vm-<vmid>-state-<name>.raw` (hibernation / snapshot RAM state).
    State { vmid: u32 },
    /// Any other accepted name.
    Other,
}

/// An image volume on a dir/NFS storage: `<vmid>/<file>` or `<basevmid>/<basefile>/<vmid>/<file>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageVolume {
    /// Owner VMID: the directory the file lives in.
    pub owner: u32,
    pub file: String,
    pub format: DiskFormat,
    pub kind: ImageFileKind,
    /// For linked clones: the base image's owner and file.
    pub base: Option<(u32, String)>,
}

impl ImageVolume {
    pub fn parse(volname: &str) -> Result<ImageVolume, DriveParseError> {
        let invalid = || DriveParseError::InvalidVolumeName(volname.to_string());
        let parts: Vec<&str> = volname.split('/').collect();
        let (base, owner, file) = match parts.as_slice() {
            [owner, file] => (None, *owner, *file),
            [base_owner, base_file, owner, file] => {
                let base_owner = parse_vmid(base_owner).ok_or_else(invalid)?;
                check_file_name(base_file).ok_or_else(invalid)?;
                (Some((base_owner, base_file.to_string())), *owner, *file)
            }
            _ => return Err(invalid()),
        };
        let owner = parse_vmid(owner).ok_or_else(invalid)?;
        let format = check_file_name(file).ok_or_else(invalid)?;
        Ok(ImageVolume {
            owner,
            file: file.to_string(),
            format,
            kind: classify_file(file),
            base,
        })
    }

    /// Path of the file relative to the storage root (`images/<owner>/<file>`), i.e. relative to the NFS export.
    pub fn path(&self) -> String {
        format!("images/{}/{}", self.owner, self.file)
    }

    /// The volname back in Proxmox's form.
    pub fn volname(&self) -> String {
        match &self.base {
            Some((bvmid, bfile)) => format!("{bvmid}/{bfile}/{}/{}", self.owner, self.file),
            None => format!("{}/{}", self.owner, self.file),
        }
    }
}

fn parse_vmid(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Proxmox accepts any file name without `/` or whitespace ending in a lowercase image extension, except
/// `snap-*.qcow2` (snapshot-chain files).
fn check_file_name(file: &str) -> Option<DiskFormat> {
    if file.is_empty() || file.contains('/') || file.chars().any(char::is_whitespace) {
        return None;
    }
    if file.starts_with("snap-") && file.ends_with(".qcow2") {
        return None;
    }
    let format = DiskFormat::from_file_name(file)?;
    // A bare extension (".raw") is no name.
    (file.len() > format.extension().len() + 1).then_some(format)
}

fn classify_file(file: &str) -> ImageFileKind {
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    let numbered = |prefix: &str| -> Option<(u32, &str)> {
        let rest = stem.strip_prefix(prefix)?;
        let (id, tail) = rest.split_once('-')?;
        Some((parse_vmid(id)?, tail))
    };
    if let Some((vmid, tail)) = numbered("vm-") {
        if let Some(n) = tail.strip_prefix("disk-") {
            if let Ok(index) = n.parse::<u32>() {
                if n == index.to_string() {
                    return ImageFileKind::Disk { vmid, index };
                }
            }
        }
        if tail == "cloudinit" {
            return ImageFileKind::CloudInit { vmid };
        }
        if tail.starts_with("state-") {
            return ImageFileKind::State { vmid };
        }
        return ImageFileKind::Other;
    }
    if let Some((vmid, _)) = numbered("base-") {
        return ImageFileKind::Base { vmid };
    }
    ImageFileKind::Other
}

/// `vm-<vmid>-disk-<n>.<fmt>`, the name Proxmox itself gives a VM's n-th disk.
pub fn disk_file_name(vmid: u32, index: u32, format: DiskFormat) -> String {
    format!("vm-{vmid}-disk-{index}.{format}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_disk_key_parses_and_round_trips() {
        let mut keys: Vec<String> = Vec::new();
        keys.extend((0..=3).map(|i| format!("ide{i}")));
        keys.extend((0..=5).map(|i| format!("sata{i}")));
        keys.extend((0..=30).map(|i| format!("scsi{i}")));
        keys.extend((0..=15).map(|i| format!("virtio{i}")));
        keys.push("efidisk0".into());
        keys.push("tpmstate0".into());
        for k in &keys {
            let key: DiskKey = k.parse().unwrap_or_else(|e| panic!("{k}: {e}"));
            assert!(key.is_drive());
            assert_eq!(&key.to_string(), k);
        }
        assert_eq!(DiskKey::all_drives().count(), keys.len());
        let all: Vec<String> = DiskKey::all_drives().map(|k| k.to_string()).collect();
        assert_eq!(all, keys);
        for i in [0u16, 7, 255] {
            let key: DiskKey = format!("unused{i}").parse().unwrap();
            assert!(key.is_unused());
        }
    }

    #[test]
    fn invalid_disk_keys_are_rejected() {
        for k in [
            "ide4",
            "sata6",
            "scsi31",
            "virtio16",
            "efidisk1",
            "tpmstate1",
            "unused256",
            "scsi",
            "scsi01",
            "net0",
            "cdrom",
            "scsi-1",
            "SCSI0",
            "",
            "virtio1a",
            "mp0",
        ] {
            assert!(k.parse::<DiskKey>().is_err(), "{k} should be invalid");
        }
    }

    #[test]
    fn first_free_unused_key() {
        let keys = ["scsi0", "unused0", "unused1", "unused3", "net0"];
        assert_eq!(
            DiskKey::first_free_unused(keys).unwrap().to_string(),
            "unused2"
        );
        assert_eq!(
            DiskKey::first_free_unused(["scsi0"]).unwrap().to_string(),
            "unused0"
        );
        let full: Vec<String> = (0..=255).map(|i| format!("unused{i}")).collect();
        assert_eq!(
            DiskKey::first_free_unused(full.iter().map(String::as_str)),
            None
        );
    }

    #[test]
    fn ordinary_disk_on_nfs() {
        let d = Drive::parse("ONTAP01:100/vm-100-disk-0.qcow2,size=32G").unwrap();
        assert_eq!(d.file, "ONTAP01:100/vm-100-disk-0.qcow2");
        assert_eq!(d.option("size"), Some("32G"));
        assert_eq!(d.size_bytes().unwrap(), Some(32 << 30));
        let DriveKind::Disk(volid) = d.kind() else {
            panic!("not a disk: {:?}", d.kind())
        };
        assert_eq!(volid.storage, "ONTAP01");
        let img = volid.image().unwrap();
        assert_eq!(img.owner, 100);
        assert_eq!(img.format, DiskFormat::Qcow2);
        assert_eq!(
            img.kind,
            ImageFileKind::Disk {
                vmid: 100,
                index: 0
            }
        );
        assert_eq!(img.path(), "images/100/vm-100-disk-0.qcow2");
        assert_eq!(d.to_string(), "ONTAP01:100/vm-100-disk-0.qcow2,size=32G");
    }

    #[test]
    fn file_key_form_and_option_order_round_trip() {
        let s = "cache=writeback,file=nfs1:101/vm-101-disk-1.raw,discard=on,iothread=1,size=8G";
        let d = Drive::parse(s).unwrap();
        assert_eq!(d.file, "nfs1:101/vm-101-disk-1.raw");
        assert_eq!(
            d.to_string(),
            "nfs1:101/vm-101-disk-1.raw,cache=writeback,discard=on,iothread=1,size=8G"
        );
        let again = Drive::parse(&d.to_string()).unwrap();
        assert_eq!(again, d);
        let v = Drive::parse("volume=nfs1:101/vm-101-disk-1.raw").unwrap();
        assert_eq!(v.file, "nfs1:101/vm-101-disk-1.raw");
    }

    #[test]
    fn cdrom_none_cloudinit_and_host_paths_are_classified() {
        assert_eq!(
            Drive::parse("none,media=cdrom").unwrap().kind(),
            DriveKind::Empty
        );
        assert_eq!(
            Drive::parse("cdrom,media=cdrom").unwrap().kind(),
            DriveKind::Cdrom
        );
        assert_eq!(
            Drive::parse("local:iso/debian-12.iso,media=cdrom,size=600M")
                .unwrap()
                .kind(),
            DriveKind::Cdrom
        );
        assert_eq!(
            Drive::parse("nfs1:vm-100-cloudinit,media=cdrom")
                .unwrap()
                .kind(),
            DriveKind::CloudInit
        );
        assert_eq!(
            Drive::parse("nfs1:100/vm-100-cloudinit.qcow2,media=cdrom")
                .unwrap()
                .kind(),
            DriveKind::CloudInit
        );
        assert_eq!(
            Drive::parse("nfs1:cloudinit").unwrap().kind(),
            DriveKind::CloudInit
        );
        assert_eq!(
            Drive::parse("/dev/disk/by-id/ata-XYZ,backup=0")
                .unwrap()
                .kind(),
            DriveKind::HostPath("/dev/disk/by-id/ata-XYZ".into())
        );
        assert!(matches!(
            Drive::parse("nfs1:100/vm-100-disk-2.raw,media=disk")
                .unwrap()
                .kind(),
            DriveKind::Disk(_)
        ));
    }

    #[test]
    fn efidisk_and_tpmstate_values() {
        let efi =
            Drive::parse("nfs1:100/vm-100-disk-1.raw,efitype=4m,pre-enrolled-keys=1,size=528K")
                .unwrap();
        assert!(matches!(efi.kind(), DriveKind::Disk(_)));
        assert_eq!(efi.size_bytes().unwrap(), Some(528 * 1024));
        let tpm = Drive::parse("nfs1:100/vm-100-disk-2.raw,size=4M,version=v2.0").unwrap();
        assert_eq!(tpm.option("version"), Some("v2.0"));
    }

    #[test]
    fn unused_values_are_plain_volume_ids() {
        let d = Drive::parse("nfs1:100/vm-100-disk-3.qcow2").unwrap();
        assert!(d.options.is_empty());
        let d = Drive::parse("file=nfs1:100/vm-100-disk-3.qcow2").unwrap();
        assert_eq!(d.file, "nfs1:100/vm-100-disk-3.qcow2");
    }

    #[test]
    fn malformed_drive_strings() {
        assert_eq!(Drive::parse(""), Err(DriveParseError::Empty));
        assert_eq!(Drive::parse("size=32G"), Err(DriveParseError::NoVolume));
        assert!(matches!(
            Drive::parse("a:1/x.raw,ssd"),
            Err(DriveParseError::OptionWithoutValue(_))
        ));
        assert!(matches!(
            Drive::parse("a:1/x.raw,ssd=1,ssd=0"),
            Err(DriveParseError::DuplicateOption(_))
        ));
        assert!(matches!(
            Drive::parse("a:1/x.raw,file=b:1/y.raw"),
            Err(DriveParseError::DuplicateOption(_))
        ));
    }

    #[test]
    fn set_and_remove_options() {
        let mut d = Drive::parse("nfs1:100/vm-100-disk-0.raw,size=1G,ssd=1").unwrap();
        d.set_option("size", "2G");
        d.set_option("discard", "on");
        assert_eq!(d.remove_option("ssd").as_deref(), Some("1"));
        assert_eq!(
            d.to_string(),
            "nfs1:100/vm-100-disk-0.raw,size=2G,discard=on"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4194304").unwrap(), 4_194_304);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn volume_ids() {
        let v: VolumeId = "local-lvm:vm-100-disk-0".parse().unwrap();
        assert_eq!(v.storage, "local-lvm");
        assert!(v.image().is_err(), "LVM names are not dir volumes");
        assert!("nostorage".parse::<VolumeId>().is_err());
        assert!(matches!(
            "1abc:100/x.raw".parse::<VolumeId>(),
            Err(DriveParseError::InvalidStorageId(_))
        ));
        assert!(matches!(
            "a:100/x.raw".parse::<VolumeId>(),
            Err(DriveParseError::InvalidStorageId(_))
        ));
        assert!("nfs1:100/has space.raw".parse::<VolumeId>().is_err());
        assert_eq!(
            VolumeId::new("nfs1", "100/a.raw").to_string(),
            "nfs1:100/a.raw"
        );
        assert!(is_valid_storage_id("ONTAP01"));
        assert!(is_valid_storage_id("pve-clone.1_a"));
        assert!(!is_valid_storage_id("nfs-"));
    }

    #[test]
    fn image_volume_names() {
        let base = ImageVolume::parse("100/base-100-disk-0.raw").unwrap();
        assert_eq!(base.kind, ImageFileKind::Base { vmid: 100 });
        let linked = ImageVolume::parse("100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2").unwrap();
        assert_eq!(linked.owner, 101);
        assert_eq!(linked.base, Some((100, "base-100-disk-0.raw".into())));
        assert_eq!(
            linked.volname(),
            "100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2"
        );
        assert_eq!(linked.path(), "images/101/vm-101-disk-0.qcow2");
        let state = ImageVolume::parse("100/vm-100-state-suspend-2026-11-21.raw").unwrap();
        assert_eq!(state.kind, ImageFileKind::State { vmid: 100 });
        let ci = ImageVolume::parse("100/vm-100-cloudinit.qcow2").unwrap();
        assert_eq!(ci.kind, ImageFileKind::CloudInit { vmid: 100 });
        // Ownership is the directory, not the number inside the name.
        let foreign = ImageVolume::parse("100/vm-200-disk-0.raw").unwrap();
        assert_eq!(foreign.owner, 100);
        assert_eq!(
            foreign.kind,
            ImageFileKind::Disk {
                vmid: 200,
                index: 0
            }
        );
        let custom = ImageVolume::parse("100/my-copy.vmdk").unwrap();
        assert_eq!(
            (custom.kind, custom.format),
            (ImageFileKind::Other, DiskFormat::Vmdk)
        );
        let odd = ImageVolume::parse("100/vm-100-disk-01.raw").unwrap();
        assert_eq!(odd.kind, ImageFileKind::Other);
        for bad in [
            "100/vm-100-disk-0.RAW",
            "100/vm-100-disk-0.img",
            "100/snap-foo.qcow2",
            "abc/vm-100-disk-0.raw",
            "0100/vm-100-disk-0.raw",
            "vm-100-disk-0.raw",
            "100/.raw",
            "100/sub/vm-100-disk-0.raw",
            "iso/debian.iso",
        ] {
            assert!(ImageVolume::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn generated_disk_names() {
        assert_eq!(
            disk_file_name(100, 3, DiskFormat::Qcow2),
            "vm-100-disk-3.qcow2"
        );
        let parsed =
            ImageVolume::parse(&format!("100/{}", disk_file_name(100, 3, DiskFormat::Raw)))
                .unwrap();
        assert_eq!(
            parsed.kind,
            ImageFileKind::Disk {
                vmid: 100,
                index: 3
            }
        );
    }
}
