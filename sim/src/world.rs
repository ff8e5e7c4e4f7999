//! The one world both simulated APIs act on, and `Sim`: the world plus everything the servers share
//! (scenario, timings, statistics, faults, event log, persistence).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::{AsyncFailure, Faults};
use crate::ontap::fs::{DirEntry, FileTree, FsError, Node};
use crate::ontap::state::{Ontap, Volume};
use crate::pve::state::Pve;
use crate::scenario::{Scenario, Timings};
use crate::stats::Stats;

/// Everything the simulator knows; serialised as a whole to the `--state` file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub ontap: Ontap,
    pub pve: Pve,
    /// Host names (lower case) → address, as the site's DNS answers them.
    #[serde(default)]
    pub hosts: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("invalid ontap scenario: {0}")]
    Ontap(String),
    #[error("invalid pve scenario: {0}")]
    Pve(String),
    #[error("state file {path}: {source}")]
    StateIo {
        path: String,
        source: std::io::Error,
    },
    #[error("state file {path}: {source}")]
    StateFormat {
        path: String,
        source: serde_json::Error,
    },
}

impl World {
    pub fn from_scenario(scenario: &Scenario) -> Result<World, WorldError> {
        let ontap = Ontap::from_scenario(&scenario.ontap).map_err(WorldError::Ontap)?;
        let pve = Pve::from_scenario(&scenario.pve).map_err(|e| WorldError::Pve(e.to_string()))?;
        let hosts = scenario
            .hosts
            .iter()
            .map(|(n, a)| (n.to_ascii_lowercase(), a.clone()))
            .collect();
        Ok(World { ontap, pve, hosts })
    }

    /// The ONTAP volume behind a Proxmox NFS storage: `server` (an address, or a name of the world's hosts)
    /// must be a data LIF address (→ SVM) and `export` the junction path of an online volume of that SVM.
    pub fn nfs_volume(&self, server: &str, export: &str) -> Option<&Volume> {
        let ip = match server.parse::<std::net::IpAddr>() {
            Ok(_) => server,
            Err(_) => self.hosts.get(&server.to_ascii_lowercase())?.as_str(),
        };
        let svm = self.ontap.svm_for_lif_ip(ip)?;
        self.ontap.volume_at_junction(&svm.uuid, export)
    }

    pub fn nfs_volume_mut(&mut self, server_ip: &str, export: &str) -> Option<&mut Volume> {
        let uuid = self.nfs_volume(server_ip, export)?.uuid.clone();
        self.ontap.volume_mut(&uuid)
    }
}

/// File-tree operations on a volume's active file system, for the Proxmox side (NFS view of the share).
/// Paths are relative to the volume root (`images/100/vm-100-disk-0.qcow2`).
impl Volume {
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        self.files.list(path)
    }

    pub fn stat(&self, path: &str) -> Option<&Node> {
        let p = crate::ontap::fs::normalize(path).ok()?;
        self.files.get(&p)
    }

    /// Creates a file of `size` bytes with new data, creating missing parent directories (as `qemu-img create`
    /// after `mkdir -p` would on an NFS mount).
    pub fn create_file(&mut self, path: &str, size: u64) -> Result<(), FsError> {
        let p = crate::ontap::fs::normalize(path)?;
        self.files.mkdir_p(crate::ontap::fs::parent_of(&p), 0o755)?;
        self.files.create_file(&p, size)
    }

    /// Copies a file within the volume as a full (non-shared) copy, e.g. a Proxmox `qm clone` full copy.
    pub fn copy_file(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.stat(from).ok_or(FsError::NotFound)?.clone();
        if src.is_dir() {
            return Err(FsError::IsADirectory);
        }
        self.create_file(to, src.size)
    }

    pub fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        let p = crate::ontap::fs::normalize(path)?;
        match self.files.get(&p) {
            Some(n) if n.is_dir() => Err(FsError::IsADirectory),
            Some(_) => self.files.remove(&p),
            None => Err(FsError::NotFound),
        }
    }

    pub fn mkdir_p(&mut self, path: &str) -> Result<(), FsError> {
        self.files.mkdir_p(path, 0o755)
    }

    /// Simulates a guest writing `bytes` of new data into a file (consumes physical space).
    pub fn write_file(&mut self, path: &str, bytes: u64) -> Result<(), FsError> {
        self.files.write(path, bytes)
    }

    pub fn tree(&self) -> &FileTree {
        &self.files
    }
}

/// One entry of the event log shown in `/_sim/inventory`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub api: String,
    pub kind: String,
    pub detail: String,
}

const MAX_EVENTS: usize = 1000;

/// Shared state of a running simulator.
pub struct Sim {
    world: Mutex<World>,
    scenario: Scenario,
    timings: Timings,
    pub stats: Stats,
    pub faults: Faults,
    events: Mutex<VecDeque<Event>>,
    state_path: Option<PathBuf>,
    persist_lock: Mutex<()>,
    /// Bumped whenever background work (a job, a task) changes state; waiters (`return_timeout`) watch it.
    changes: tokio::sync::watch::Sender<u64>,
    /// Bumped by `reset`, so background work started before a reset does not touch the new world.
    epoch: std::sync::atomic::AtomicU64,
    /// Set when the servers stop: no more persistence, background work ends.
    halted: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving rather than poisoning every request.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    /// Builds the simulator from a scenario, or from the state file when it exists.
    pub fn new(scenario: Scenario, state_path: Option<PathBuf>) -> Result<Sim, WorldError> {
        let world = match &state_path {
            Some(p) if p.exists() => {
                let text = std::fs::read(p).map_err(|source| WorldError::StateIo {
                    path: p.display().to_string(),
                    source,
                })?;
                serde_json::from_slice(&text).map_err(|source| WorldError::StateFormat {
                    path: p.display().to_string(),
                    source,
                })?
            }
            _ => World::from_scenario(&scenario)?,
        };
        let (changes, _) = tokio::sync::watch::channel(0);
        Ok(Sim {
            world: Mutex::new(world),
            timings: scenario.timings.clone(),
            scenario,
            stats: Stats::default(),
            faults: Faults::default(),
            events: Mutex::new(VecDeque::new()),
            state_path,
            persist_lock: Mutex::new(()),
            changes,
            epoch: std::sync::atomic::AtomicU64::new(0),
            halted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Locks the world. Keep the guard short-lived and never hold it across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.world())
    }

    /// Runs a mutation and persists the world afterwards.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let r = f(&mut self.world());
        self.persist();
        r
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Writes the world to the `--state` file (temp file + rename), if one is configured.
    pub fn persist(&self) {
        let Some(path) = &self.state_path else { return };
        if self.is_halted() {
            return;
        }
        let _guard = lock(&self.persist_lock);
        let bytes = match serde_json::to_vec(&*self.world()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "serialising the world failed");
                return;
            }
        };
        let tmp = path.with_extension("tmp");
        let result = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "writing the state file failed");
        }
    }

    /// Back to the loaded scenario: world, faults, statistics and events.
    pub fn reset(&self) -> Result<(), WorldError> {
        let fresh = World::from_scenario(&self.scenario)?;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.world() = fresh;
        self.faults.clear();
        self.stats.clear();
        lock(&self.events).clear();
        self.persist();
        self.notify_change();
        Ok(())
    }

    /// Stops persistence and invalidates background work (called when the servers shut down).
    pub fn halt(&self) {
        self.halted.store(true, std::sync::atomic::Ordering::SeqCst);
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notify_change();
    }

    pub fn is_halted(&self) -> bool {
        self.halted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Background work captures `epoch()` when it starts and stops when it changes (reset or shutdown).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn record_event(&self, api: &str, kind: &str, detail: String) {
        tracing::info!(api, kind, %detail, "event");
        let mut ev = lock(&self.events);
        if ev.len() >= MAX_EVENTS {
            ev.pop_front();
        }
        ev.push_back(Event {
            time: Utc::now(),
            api: api.into(),
            kind: kind.into(),
            detail,
        });
    }

    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).iter().cloned().collect()
    }

    /// Signals waiters that background work changed the world.
    pub fn notify_change(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Consumes a configured failure for an asynchronous operation (ONTAP job / PVE task), if any.
    /// `api` is `ontap` or `pve`; `operation` names the job/task kind (see the README's fault section).
    pub fn take_async_failure(&self, api: &str, operation: &str) -> Option<AsyncFailure> {
        self.faults.take_async_failure(api, operation)
    }
}
