//! The command line: one subcommand per command of the old `pve-ontap-snapshot` script, plus `status`.
//! Global flags work before or after the subcommand, as kubectl's do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-pveontap",
    bin_name = "kubectl pveontap",
    version,
    about = "Copies, snapshots, mounts and restores of Proxmox VE storage on NetApp ONTAP, as pveontap.io objects.",
    long_about = "Every command creates, lists, reads or deletes pveontap.io objects in a namespace; the \
                  pve-ontap-controller does the work on ONTAP and Proxmox VE. Create and delete commands wait \
                  until the object is Ready (or gone) and exit non-zero with the object's condition message when \
                  it fails."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Namespace of the objects (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// ProxmoxCluster to use (default: the only one that admits the namespace).
    #[arg(long, global = true, value_name = "NAME")]
    pub proxmox: Option<String>,
    /// OntapCluster to use with `storage snapshot --volume` (default: the only one that admits the namespace).
    #[arg(long, global = true, value_name = "NAME")]
    pub ontap: Option<String>,
    /// Follow the object's status until it is Ready (or gone), with a progress line; default on for create and
    /// delete commands (`--wait=false` or `--no-wait` to return at once).
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub wait: Option<bool>,
    /// Same as `--wait=false`.
    #[arg(long, global = true, conflicts_with = "wait")]
    pub no_wait: bool,
    /// How long `--wait` follows an object before giving up (e.g. `90s`, `10m`, `1h`).
    #[arg(long, global = true, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print the manifest (create commands: instead of applying it) or the objects (list, show, status).
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<Output>,
    /// `server`: send the request as a server-side dry run (admission and schema are checked, nothing is stored).
    #[arg(long, global = true, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "server", value_name = "MODE")]
    pub dry_run: Option<DryRun>,
}

impl Global {
    /// Whether create and delete commands follow the object.
    pub fn wait(&self) -> bool {
        !self.no_wait && self.wait.unwrap_or(true)
    }

    pub fn server_dry_run(&self) -> bool {
        self.dry_run == Some(DryRun::Server)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    None,
    Server,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// VM disk copies (VmDiskClone): `vm clone 100 --suspend`.
    #[command(subcommand)]
    Vm(VmCommand),
    /// Snapshots of the ONTAP volume behind a Proxmox storage, their mounts and restores.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Backends (ready, version, nodes, SVMs) and the namespace's objects per phase.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Copy a VM's disks with ONTAP FileClone (old script: `vm create -vm VMID`).
    Clone(VmClone),
    /// List the VM disk copies of the namespace (of one VM with VMID).
    List { vmid: Option<u32> },
    /// Delete a VM disk copy (its copies and what it attached are removed by the controller).
    Delete { name: String },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("vm_consistency").args(["suspend", "hibernate", "shutdown", "fsfreeze"])))]
pub struct VmClone {
    /// The source VM.
    pub vmid: u32,
    /// Pause the VM while its disks are copied; resumed afterwards.
    #[arg(long)]
    pub suspend: bool,
    /// Suspend the VM to disk while copying; started again afterwards.
    #[arg(long)]
    pub hibernate: bool,
    /// Shut the VM down cleanly while copying; started again afterwards.
    #[arg(long)]
    pub shutdown: bool,
    /// Freeze the guest's file systems (QEMU guest agent) while copying; always thawed.
    #[arg(long)]
    pub fsfreeze: bool,
    /// Fail instead of copying crash-consistent when the consistency cannot be applied.
    #[arg(long)]
    pub require_consistency: bool,
    /// Seconds a clean shutdown may take (`--shutdown`).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_timeout: Option<u32>,
    /// Drive to copy (repeat or comma-separate; default: every disk on an ONTAP-backed storage).
    #[arg(long = "disk", value_name = "DRIVE", value_delimiter = ',')]
    pub disks: Vec<String>,
    /// Create a new VM with this id from the copies (instead of adding them to the source as unused disks).
    #[arg(long, value_name = "VMID", requires = "name")]
    pub new_vm: Option<u32>,
    /// Name of the new VM (`--new-vm`).
    #[arg(long, requires = "new_vm")]
    pub name: Option<String>,
    /// Node of the new VM (default: the source VM's node).
    #[arg(long, requires = "new_vm")]
    pub node: Option<String>,
    /// Start the new VM once created.
    #[arg(long, requires = "new_vm")]
    pub start: bool,
    /// Attach the copies nowhere (files only).
    #[arg(long, conflicts_with = "new_vm")]
    pub no_attach: bool,
    /// Name of the VmDiskClone object (default: `vm<VMID>-<UTC time>`).
    #[arg(long, value_name = "NAME")]
    pub object_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Snapshot the ONTAP volume behind a storage (old script: `storage create -storage STORAGE`).
    Snapshot(StorageSnapshot),
    /// Snapshots with storage, age, consistency and the mounts using them (old script: `storage list`).
    List { storage: Option<String> },
    /// Delete a snapshot, by VolumeSnapshot or ONTAP snapshot name (old script: `storage delete`).
    Delete { snapshot: String },
    /// Roll a storage (or one VM's disks) back to a snapshot; shows the plan and asks first.
    Restore(StorageRestore),
    /// Mount a snapshot as a new, writable Proxmox storage (FlexClone; old script: `storage mount`).
    Mount(StorageMount),
    /// Remove a mount, by FlexCloneMount name or Proxmox storage id (old script: `storage unmount`).
    Unmount { name: String },
    /// Details of a snapshot, a mount or a storage (old script: `storage show`).
    Show { name: String },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("snapshot_consistency").args(["suspend", "fsfreeze"])))]
#[command(group(ArgGroup::new("snapshot_target").args(["storage", "volume"]).required(true)))]
pub struct StorageSnapshot {
    /// Proxmox storage id (e.g. `ONTAP01`).
    pub storage: Option<String>,
    /// Name of the VolumeSnapshot object (default: `<storage>-<UTC time>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Name of the ONTAP snapshot (default: derived by the controller, unique).
    #[arg(long, value_name = "NAME")]
    pub snapshot_name: Option<String>,
    /// Pause every running VM with a disk on the storage for the moment of the snapshot.
    #[arg(long)]
    pub suspend: bool,
    /// Freeze the guest file systems of those VMs for the moment of the snapshot.
    #[arg(long)]
    pub fsfreeze: bool,
    /// Fail instead of snapshotting crash-consistent when a VM cannot be quiesced.
    #[arg(long)]
    pub require_consistency: bool,
    /// Comment stored with the snapshot.
    #[arg(long)]
    pub comment: Option<String>,
    /// An ONTAP volume named directly, `SVM/VOLUME` (with `--ontap`), instead of a storage.
    #[arg(long, value_name = "SVM/VOLUME", conflicts_with_all = ["suspend", "fsfreeze"])]
    pub volume: Option<String>,
}

#[derive(Debug, Args)]
pub struct StorageRestore {
    /// VolumeSnapshot (or ONTAP snapshot name of one) to restore to.
    pub snapshot: String,
    /// Put back only this VM's disk files; every other VM and every snapshot stays.
    #[arg(long, value_name = "VMID")]
    pub vm: Option<u32>,
    /// With `--vm`: also put back the VM's disk entries as the snapshot recorded them.
    #[arg(long, requires = "vm")]
    pub restore_config: bool,
    /// A snapshot no VolumeSnapshot manages: restore the storage STORAGE to the ONTAP snapshot SNAPSHOT.
    #[arg(long, value_name = "STORAGE")]
    pub storage: Option<String>,
    /// Shut running VMs with disks on the storage down cleanly and start them again afterwards (default:
    /// refuse while any runs).
    #[arg(long)]
    pub restart_vms: bool,
    /// Seconds each clean shutdown may take (`--restart-vms`).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_timeout: Option<u32>,
    /// Do not ask: accept the plan, whatever newer snapshots it destroys.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Accept the plan only if it destroys exactly these snapshots (comma-separated ONTAP names; `-` for none).
    #[arg(
        long,
        value_name = "SNAPSHOTS",
        value_delimiter = ',',
        conflicts_with = "vm"
    )]
    pub confirm_destroy: Vec<String>,
    /// Name of the VolumeSnapshotRestore object (default: `<snapshot>-restore-<UTC time>`).
    #[arg(long, value_name = "NAME")]
    pub object_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct StorageMount {
    /// VolumeSnapshot (or ONTAP snapshot name of one) to mount.
    pub snapshot: String,
    /// Proxmox storage id of the mount (default: derived by the controller, never reused).
    #[arg(long)]
    pub name: Option<String>,
    /// A snapshot no VolumeSnapshot manages: mount the ONTAP snapshot SNAPSHOT of storage STORAGE.
    #[arg(long, value_name = "STORAGE")]
    pub storage: Option<String>,
    /// Proxmox content types of the new storage (default `images`).
    #[arg(long, value_delimiter = ',')]
    pub content: Vec<String>,
    /// Nodes the storage is enabled on (default all).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// NFS mount options (default the parent storage's).
    #[arg(long)]
    pub options: Option<String>,
    /// Split the clone from its snapshot (cannot be undone; the snapshot can then be deleted).
    #[arg(long)]
    pub split: bool,
    /// Name of the FlexCloneMount object (default: `<snapshot>-mount-<UTC time>`).
    #[arg(long, value_name = "NAME")]
    pub object_name: Option<String>,
}

/// `90s`, `10m`, `1h`, `1h30m` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is no duration (e.g. 90s, 10m, 1h30m)");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "m", "10x", "5m3", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere_and_wait_defaults_on() {
        let cli = Cli::try_parse_from([
            "kubectl-pveontap",
            "vm",
            "clone",
            "100",
            "--suspend",
            "-n",
            "demo",
            "--wait=false",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("demo"));
        assert!(!cli.global.wait());
        let cli = Cli::try_parse_from(["kubectl-pveontap", "status"]).unwrap();
        assert!(cli.global.wait());
        assert!(
            Cli::try_parse_from(["k", "vm", "clone", "100", "--suspend", "--shutdown"]).is_err(),
            "one consistency mode at a time"
        );
        assert!(
            Cli::try_parse_from(["k", "vm", "clone", "100", "--new-vm", "9100"]).is_err(),
            "a new VM needs a name"
        );
        let cli = Cli::try_parse_from(["k", "--dry-run=server", "storage", "list"]).unwrap();
        assert!(cli.global.server_dry_run());
    }
}
