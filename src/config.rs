//! Command-line flags of the controller binary (every flag also reads an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "pve-ontap-controller",
    version,
    about = "Reconciles VmDiskClone, VolumeSnapshot and FlexCloneMount against NetApp ONTAP and Proxmox VE"
)]
pub struct Config {
    /// Path to a kubeconfig; without it the in-cluster config (or the default kubeconfig) is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or `pve_ontap_controller=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log output format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Namespaces whose objects are reconciled (comma-separated); empty means all namespaces.
    #[arg(
        long = "watch-namespaces",
        env = "WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub watch_namespaces: Vec<String>,

    /// Identity of this Kubernetes cluster written into the ownership marker of every ONTAP object.
    /// Default: the UID of the `kube-system` namespace.
    #[arg(long, env = "CLUSTER_ID")]
    pub cluster_id: Option<String>,

    /// Parallel reconciles of VmDiskClone objects.
    #[arg(long, env = "VMDISKCLONE_WORKERS", default_value_t = 16)]
    pub vmdiskclone_workers: u16,
    /// Parallel reconciles of VolumeSnapshot objects.
    #[arg(long, env = "VOLUMESNAPSHOT_WORKERS", default_value_t = 4)]
    pub volumesnapshot_workers: u16,
    /// Parallel reconciles of FlexCloneMount objects.
    #[arg(long, env = "FLEXCLONEMOUNT_WORKERS", default_value_t = 4)]
    pub flexclonemount_workers: u16,
    /// Parallel reconciles of ProxmoxCluster and OntapCluster objects.
    #[arg(long, env = "BACKEND_WORKERS", default_value_t = 2)]
    pub backend_workers: u16,

    /// Period after which a Ready object is reconciled again to notice drift (seconds).
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,

    /// Period of the OntapStorage refresh (seconds): every ONTAP-backed Proxmox storage's volume, space and
    /// snapshots are read again (one volume GET and one snapshot listing per storage). 0 turns discovery off.
    #[arg(long, env = "DISCOVERY_INTERVAL_SECONDS", default_value_t = 180)]
    pub discovery_interval_seconds: u64,

    /// Longest time a guest file system stays frozen (seconds); Windows VSS thaws by itself after ~10 s.
    #[arg(long, env = "FSFREEZE_DEADLINE_SECONDS", default_value_t = 8)]
    pub fsfreeze_deadline_seconds: u64,

    /// An /etc/hosts-style file of NFS server names (`<address> <name>…`), asked before the system resolver
    /// when a Proxmox storage's `server` is a host name.
    #[arg(long, env = "NFS_HOSTS_FILE")]
    pub nfs_hosts_file: Option<std::path::PathBuf>,

    /// Time a clean guest shutdown may take before the reconcile gives up (seconds).
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 180)]
    pub shutdown_timeout_seconds: u64,

    /// Address serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Instance name reported in Events (usually the pod name).
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,

    /// Elect a leader through a Lease before reconciling (needed with more than one replica).
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,

    #[command(flatten)]
    pub leader_election: crate::leader::LeaderElectionArgs,
}

impl Config {
    pub fn resync_period(&self) -> Duration {
        Duration::from_secs(self.resync_seconds.max(1))
    }

    /// `None` when discovery is off.
    pub fn discovery_interval(&self) -> Option<Duration> {
        (self.discovery_interval_seconds > 0)
            .then(|| Duration::from_secs(self.discovery_interval_seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_workers() {
        let c = Config::try_parse_from([
            "pve-ontap-controller",
            "--watch-namespaces",
            "a,b",
            "--vmdiskclone-workers",
            "7",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.watch_namespaces, vec!["a", "b"]);
        assert_eq!(c.vmdiskclone_workers, 7);
        assert_eq!(c.log_format, LogFormat::Json);
    }
}
