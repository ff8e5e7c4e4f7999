//! Drive property strings, volume ids and the dir/NFS volume naming rules, as qemu-server and pve-storage
//! parse and print them (`QemuServer/Drive.pm`, `Storage/Plugin.pm`).

use std::fmt;

/// Highest index per bus, exactly as qemu-server's `$MAX_*` constants.
const BUSES: &[(&str, u32)] = &[("ide", 3), ("sata", 5), ("scsi", 30), ("virtio", 15)];
const MAX_UNUSED: u32 = 255;

/// Options a drive string may carry; anything else is a schema error like PVE's
/// `property is not defined in schema`.
const DRIVE_OPTIONS: &[&str] = &[
    "aio",
    "backup",
    "bps",
    "bps_max_length",
    "bps_rd",
    "bps_rd_max_length",
    "bps_wr",
    "bps_wr_max_length",
    "cache",
    "cyls",
    "detect_zeroes",
    "discard",
    "efitype",
    "format",
    "heads",
    "import-from",
    "iops",
    "iops_max",
    "iops_max_length",
    "iops_rd",
    "iops_rd_max",
    "iops_rd_max_length",
    "iops_wr",
    "iops_wr_max",
    "iops_wr_max_length",
    "iothread",
    "mbps",
    "mbps_max",
    "mbps_rd",
    "mbps_rd_max",
    "mbps_wr",
    "mbps_wr_max",
    "media",
    "model",
    "pre-enrolled-keys",
    "product",
    "queues",
    "replicate",
    "rerror",
    "ro",
    "scsiblock",
    "secs",
    "serial",
    "shared",
    "size",
    "snapshot",
    "ssd",
    "trans",
    "vendor",
    "version",
    "werror",
    "wwn",
];

/// Boolean sub-options: PVE accepts on/off/yes/no/true/false/1/0 and prints them back as 1/0.
const BOOL_OPTIONS: &[&str] = &[
    "backup",
    "iothread",
    "replicate",
    "ro",
    "scsiblock",
    "shared",
    "snapshot",
    "ssd",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    #[error("invalid format - {0}")]
    Format(String),
}

/// True for `ide0`..`ide3`, `sata0`..`sata5`, `scsi0`..`scsi30`, `virtio0`..`virtio15`, `efidisk0`, `tpmstate0`.
pub fn is_drive_key(key: &str) -> bool {
    if key == "efidisk0" || key == "tpmstate0" {
        return true;
    }
    BUSES
        .iter()
        .any(|(bus, max)| index_of(key, bus).is_some_and(|i| i <= *max))
}

/// True for `unused0`..`unused255`.
pub fn is_unused_key(key: &str) -> bool {
    index_of(key, "unused").is_some_and(|i| i <= MAX_UNUSED)
}

/// Drive keys and `unusedN` keys together: every key whose value references a volume.
pub fn is_volume_key(key: &str) -> bool {
    is_drive_key(key) || is_unused_key(key)
}

/// Disks that can be hot-plugged into a running guest with the default `hotplug=network,disk,usb`.
pub fn is_hotpluggable_bus(key: &str) -> bool {
    key.starts_with("scsi") || key.starts_with("virtio")
}

fn index_of(key: &str, prefix: &str) -> Option<u32> {
    let digits = key.strip_prefix(prefix)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// A parsed drive: the volume (`file`) and its options in the order PVE prints them (sorted by key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub file: String,
    pub options: std::collections::BTreeMap<String, String>,
}

impl Drive {
    pub fn parse(value: &str) -> Result<Drive, DriveError> {
        let mut file = None;
        let mut options = std::collections::BTreeMap::new();
        for (i, part) in value.split(',').enumerate() {
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((k, v)) if k == "file" || k == "volume" => {
                    if file.replace(v.to_string()).is_some() {
                        return Err(DriveError::Format(format!(
                            "duplicate key in comma-separated list property: {k}"
                        )));
                    }
                }
                Some((k, v)) => {
                    if !DRIVE_OPTIONS.contains(&k) {
                        return Err(DriveError::Format(format!("format error\n{k}: property is not defined in schema and the schema does not allow additional properties")));
                    }
                    let v = if BOOL_OPTIONS.contains(&k) {
                        normalize_bool(k, v)?
                    } else {
                        v.to_string()
                    };
                    if k == "media" && v != "disk" && v != "cdrom" {
                        return Err(DriveError::Format(format!("format error\nmedia: value '{v}' does not have a value in the enumeration 'cdrom, disk'")));
                    }
                    if k == "size" && parse_size(&v).is_none() {
                        return Err(DriveError::Format(
                            "format error\nsize: value does not match the regex pattern"
                                .to_string(),
                        ));
                    }
                    if options.insert(k.to_string(), v).is_some() {
                        return Err(DriveError::Format(format!(
                            "duplicate key in comma-separated list property: {k}"
                        )));
                    }
                }
                None if i == 0 && file.is_none() => file = Some(part.to_string()),
                None => {
                    return Err(DriveError::Format(
                        "value without key, but schema does not define a default key".to_string(),
                    ))
                }
            }
        }
        let file = file.ok_or_else(|| {
            DriveError::Format(
                "format error\nfile: property is missing and it is not optional".into(),
            )
        })?;
        Ok(Drive { file, options })
    }

    pub fn is_cdrom(&self) -> bool {
        self.options.get("media").is_some_and(|m| m == "cdrom")
    }

    /// `cloudinit` drives are `<storage>:vm-<vmid>-cloudinit` volumes on a cdrom; PVE's `drive_is_cloudinit`.
    pub fn is_cloudinit(&self) -> bool {
        self.file.contains("cloudinit")
    }

    pub fn size(&self) -> Option<u64> {
        self.options.get("size").and_then(|s| parse_size(s))
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

fn normalize_bool(key: &str, v: &str) -> Result<String, DriveError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Ok("1".into()),
        "0" | "off" | "no" | "false" => Ok("0".into()),
        _ => Err(DriveError::Format(format!(
            "format error\n{key}: type check ('boolean') failed - got '{v}'"
        ))),
    }
}

/// What a drive's `file` refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum DriveSource {
    /// `none`: an empty (cdrom) drive.
    None,
    /// `cdrom`: the host's optical drive.
    HostCdrom,
    /// `<storage>:<size in GiB>`: allocate a new volume.
    Allocate { storage: String, size_gib: f64 },
    /// `<storage>:cloudinit`: a cloud-init drive.
    CloudInit { storage: String },
    /// `<storage>:<volname>`: an existing volume.
    Volume(VolumeId),
    /// An absolute path (root@pam only in PVE).
    Path(String),
}

pub fn classify_source(file: &str) -> Result<DriveSource, String> {
    if file == "none" {
        return Ok(DriveSource::None);
    }
    if file == "cdrom" {
        return Ok(DriveSource::HostCdrom);
    }
    if file.starts_with('/') {
        return Ok(DriveSource::Path(file.to_string()));
    }
    let Some((storage, rest)) = file.split_once(':') else {
        return Err(format!("unable to parse volume ID '{file}'"));
    };
    if !is_valid_storage_id(storage) {
        return Err(format!("unable to parse volume ID '{file}'"));
    }
    if rest == "cloudinit" {
        return Ok(DriveSource::CloudInit {
            storage: storage.to_string(),
        });
    }
    if is_size_in_gib(rest) {
        let size_gib = rest
            .parse::<f64>()
            .map_err(|_| format!("unable to parse volume ID '{file}'"))?;
        return Ok(DriveSource::Allocate {
            storage: storage.to_string(),
            size_gib,
        });
    }
    VolumeId::parse(file).map(DriveSource::Volume)
}

/// qemu-server's `$NEW_DISK_RE`: `\d+(?:\.\d+)?` after the storage.
fn is_size_in_gib(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// pve-storage's `pve-storage-id` format: `^[a-z][a-z0-9\-_.]*[a-z0-9]$`, case-insensitive.
pub fn is_valid_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `<storage>:<volname>` with the volname parsed like the dir plugin's `parse_volname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeId {
    pub storage: String,
    pub volname: String,
    pub kind: VolumeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// `images/<owner>/<file>`; `base` is set for linked clones (`<basevmid>/<basefile>/<vmid>/<file>`).
    Image {
        owner: u32,
        file: String,
        format: ImageFormat,
        is_base: bool,
        base: Option<(u32, String)>,
    },
    Iso {
        file: String,
    },
    Vztmpl {
        file: String,
    },
    Backup {
        file: String,
    },
    Snippets {
        file: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Raw,
    Qcow2,
    Vmdk,
    Subvol,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Vmdk => "vmdk",
            ImageFormat::Subvol => "subvol",
        }
    }

    pub fn parse(s: &str) -> Option<ImageFormat> {
        match s {
            "raw" => Some(ImageFormat::Raw),
            "qcow2" => Some(ImageFormat::Qcow2),
            "vmdk" => Some(ImageFormat::Vmdk),
            "subvol" => Some(ImageFormat::Subvol),
            _ => None,
        }
    }
}

impl VolumeId {
    pub fn parse(volid: &str) -> Result<VolumeId, String> {
        let (storage, volname) = volid
            .split_once(':')
            .filter(|(s, v)| is_valid_storage_id(s) && !v.is_empty())
            .ok_or_else(|| format!("unable to parse volume ID '{volid}'"))?;
        let kind = parse_volname(volname)?;
        Ok(VolumeId {
            storage: storage.to_string(),
            volname: volname.to_string(),
            kind,
        })
    }

    pub fn owner(&self) -> Option<u32> {
        match &self.kind {
            VolumeKind::Image { owner, .. } => Some(*owner),
            _ => None,
        }
    }

    /// Path of the volume relative to the storage root, as the dir plugin lays it out.
    pub fn relative_path(&self) -> String {
        match &self.kind {
            VolumeKind::Image { owner, file, .. } => format!("images/{owner}/{file}"),
            VolumeKind::Iso { file } => format!("template/iso/{file}"),
            VolumeKind::Vztmpl { file } => format!("template/cache/{file}"),
            VolumeKind::Backup { file } => format!("dump/{file}"),
            VolumeKind::Snippets { file } => format!("snippets/{file}"),
        }
    }

    pub fn content(&self) -> &'static str {
        match self.kind {
            VolumeKind::Image { .. } => "images",
            VolumeKind::Iso { .. } => "iso",
            VolumeKind::Vztmpl { .. } => "vztmpl",
            VolumeKind::Backup { .. } => "backup",
            VolumeKind::Snippets { .. } => "snippets",
        }
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.volname)
    }
}

fn parse_volname(volname: &str) -> Result<VolumeKind, String> {
    let bad = || format!("unable to parse directory volume name '{volname}'");
    let parts: Vec<&str> = volname.split('/').collect();
    let is_vmid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [base_vmid, base_file, vmid, file] if is_vmid(base_vmid) && is_vmid(vmid) => {
            parse_image_filename(base_file)?;
            let (format, is_base) = parse_image_filename(file)?;
            Ok(VolumeKind::Image {
                owner: vmid.parse().map_err(|_| bad())?,
                file: file.to_string(),
                format,
                is_base,
                base: Some((base_vmid.parse().map_err(|_| bad())?, base_file.to_string())),
            })
        }
        [vmid, file] if is_vmid(vmid) => {
            let (format, is_base) = parse_image_filename(file)?;
            Ok(VolumeKind::Image {
                owner: vmid.parse().map_err(|_| bad())?,
                file: file.to_string(),
                format,
                is_base,
                base: None,
            })
        }
        ["iso", file] if has_ext(file, &[".iso", ".img"]) => Ok(VolumeKind::Iso {
            file: file.to_string(),
        }),
        ["vztmpl", file] if has_ext(file, &[".tar.gz", ".tar.xz", ".tar.zst"]) => {
            Ok(VolumeKind::Vztmpl {
                file: file.to_string(),
            })
        }
        ["backup", file] if file.starts_with("vzdump-") => Ok(VolumeKind::Backup {
            file: file.to_string(),
        }),
        ["snippets", file] if !file.is_empty() => Ok(VolumeKind::Snippets {
            file: file.to_string(),
        }),
        _ => Err(bad()),
    }
}

fn has_ext(file: &str, exts: &[&str]) -> bool {
    let lower = file.to_ascii_lowercase();
    exts.iter()
        .any(|e| lower.len() > e.len() && lower.ends_with(e))
}

/// The dir plugin's `parse_name_dir`: `<name>.<raw|qcow2|vmdk|subvol>`, no whitespace, and not a
/// snapshot-chain file. Returns the format and whether it is a template base image.
pub fn parse_image_filename(name: &str) -> Result<(ImageFormat, bool), String> {
    let bad = || format!("unable to parse volume filename '{name}'");
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (stem, ext) = name.rsplit_once('.').ok_or_else(bad)?;
    let format = ImageFormat::parse(ext).ok_or_else(bad)?;
    if stem.is_empty() {
        return Err(bad());
    }
    if stem.starts_with("snap-") && format == ImageFormat::Qcow2 {
        return Err(format!("'{name}' is a snapshot filename, not a volume!"));
    }
    Ok((format, stem.starts_with("base-")))
}

/// `<n>[KMGT]` as in drive `size=` options; bare numbers are bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        b'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    if num.is_empty() {
        return None;
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f: f64 = num
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)?;
    Some((f * mult as f64) as u64)
}

/// pve-common's `format_size`: the largest unit that divides the size exactly.
pub fn format_size(bytes: u64) -> String {
    let units = [
        (1u64 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, suffix) in units {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_keys() {
        assert!(is_drive_key("scsi0") && is_drive_key("scsi30") && !is_drive_key("scsi31"));
        assert!(is_drive_key("ide3") && !is_drive_key("ide4") && !is_drive_key("scsi01"));
        assert!(
            is_unused_key("unused0") && is_unused_key("unused255") && !is_unused_key("unused256")
        );
        assert!(!is_drive_key("net0") && !is_drive_key("scsihw"));
    }

    #[test]
    fn drive_roundtrip_sorts_options_and_normalizes_booleans() {
        let d =
            Drive::parse("file=ONTAP01:100/vm-100-disk-0.qcow2,size=32G,iothread=on,cache=none")
                .unwrap();
        assert_eq!(
            d.to_string(),
            "ONTAP01:100/vm-100-disk-0.qcow2,cache=none,iothread=1,size=32G"
        );
        assert_eq!(d.size(), Some(32 << 30));
        assert!(Drive::parse("none,media=cdrom").unwrap().is_cdrom());
        assert!(Drive::parse("ONTAP01:100/vm-100-disk-0.raw,bogus=1").is_err());
        assert!(Drive::parse("ONTAP01:100/vm-100-disk-0.raw,media=floppy").is_err());
    }

    #[test]
    fn sources() {
        assert_eq!(
            classify_source("ONTAP01:4").unwrap(),
            DriveSource::Allocate {
                storage: "ONTAP01".into(),
                size_gib: 4.0
            }
        );
        assert_eq!(classify_source("none").unwrap(), DriveSource::None);
        assert!(matches!(
            classify_source("local:iso/x.iso").unwrap(),
            DriveSource::Volume(_)
        ));
        assert!(matches!(
            classify_source("local:cloudinit").unwrap(),
            DriveSource::CloudInit { .. }
        ));
        assert!(classify_source("garbage").is_err());
    }

    #[test]
    fn volume_names() {
        let v = VolumeId::parse("ONTAP01:200/vm-200-disk-0.qcow2").unwrap();
        assert_eq!(v.owner(), Some(200));
        assert_eq!(v.relative_path(), "images/200/vm-200-disk-0.qcow2");
        // Ownership is the directory, not the number in the file name.
        assert_eq!(
            VolumeId::parse("nfs:100/vm-200-disk-0.raw")
                .unwrap()
                .owner(),
            Some(100)
        );
        let linked =
            VolumeId::parse("nfs:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2").unwrap();
        assert_eq!(linked.owner(), Some(101));
        for bad in [
            "ONTAP01:100/vm-100-disk-0.img",
            "ONTAP01:100/vm-100-disk-0.RAW",
            "ONTAP01:100/vm 100.raw",
            "ONTAP01:vm-100-disk-0.raw",
            "ONTAP01:abc/vm-100-disk-0.raw",
            "ONTAP01:100/snap-x-vm-100-disk-0.qcow2",
            "ONTAP01:iso/x.txt",
        ] {
            assert!(VolumeId::parse(bad).is_err(), "{bad}");
        }
        assert!(VolumeId::parse("local:iso/x.iso").is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("1.5G"), Some(1536 << 20));
    }
}
