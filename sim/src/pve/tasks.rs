//! The task engine: PVE workers (`fork_worker`) identified by UPIDs, running for a configured time, then stopped
//! with an `exitstatus`. Tasks on one VM run one after another, like workers queuing on the VM's config flock;
//! a task's effect is applied when it ends, so its in-task checks see the state left by the task before it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::now_ms;
use super::{vm_config, vm_lifecycle};
use crate::world::{Sim, World};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub vmid: Option<u32>,
    pub ends_at_ms: i64,
    pub running: bool,
    pub exitstatus: Option<String>,
    pub log: Vec<String>,
    pub action: TaskAction,
    /// An injected failure (`/_sim/faults`) this task reports instead of doing its work.
    pub failure: Option<String>,
}

/// The work a task does when it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TaskAction {
    Start {
        vmid: u32,
        skiplock: bool,
    },
    Stop {
        vmid: u32,
        skiplock: bool,
    },
    Shutdown {
        vmid: u32,
        force_stop: bool,
        skiplock: bool,
    },
    Reboot {
        vmid: u32,
    },
    Reset {
        vmid: u32,
        skiplock: bool,
    },
    Pause {
        vmid: u32,
        skiplock: bool,
    },
    Hibernate {
        vmid: u32,
        statestorage: Option<String>,
    },
    Resume {
        vmid: u32,
        skiplock: bool,
        from_disk: bool,
    },
    Config {
        vmid: u32,
        update: vm_config::ConfigUpdate,
    },
    Create {
        vmid: u32,
        node: String,
        update: vm_config::ConfigUpdate,
        start: bool,
    },
    Destroy {
        vmid: u32,
        skiplock: bool,
        purge: bool,
        destroy_unreferenced: bool,
    },
    ImgDel {
        volid: String,
    },
    /// A worker that dies before doing anything (its error is the task's `failure`).
    Noop,
}

impl Task {
    /// `GET .../tasks/{upid}/status`: the decoded UPID (token split off), `running`/`stopped` and the exit status.
    pub fn status_json(&self) -> Value {
        let mut v = self.upid_json(TaskView::Archived);
        v["status"] = json!(if self.running { "running" } else { "stopped" });
        if let Some(e) = &self.exitstatus {
            v["exitstatus"] = json!(e);
        }
        v
    }

    /// The fields `upid_decode` yields, with the user as `view` presents it (`$convert_token_task` for a
    /// decoded record adds `tokenid`).
    fn upid_json(&self, view: TaskView) -> Value {
        let mut v = json!({
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.kind,
            "id": self.id,
            "user": self.listed_user(view),
        });
        if view == TaskView::Archived {
            if let Some((_, token)) = self.user.split_once('!') {
                v["tokenid"] = json!(token);
            }
        }
        v
    }
}

/// Parses `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.
pub fn parse_upid(upid: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = upid.split(':').collect();
    if parts.len() != 9 || parts[0] != "UPID" || !parts[8].is_empty() {
        return None;
    }
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(parts[2])
        || !hex(parts[3])
        || !hex(parts[4])
        || parts[1].is_empty()
        || parts[5].is_empty()
    {
        return None;
    }
    Some((parts[1].to_string(), parts[5].to_string()))
}

pub struct TaskRequest<'a> {
    pub node: &'a str,
    pub kind: &'a str,
    pub id: String,
    pub user: &'a str,
    pub vmid: Option<u32>,
    pub action: TaskAction,
    /// Log lines written when the worker starts.
    pub first_log: Vec<String>,
}

/// Starts a worker: records it as running and schedules its end. Call with the world locked.
pub fn fork_worker(sim: &Arc<Sim>, world: &mut World, req: TaskRequest<'_>) -> String {
    let now = now_ms();
    let starttime = now / 1000;
    let pve = &mut world.pve;
    let boot = pve
        .node(req.node)
        .map(|n| n.boot_time)
        .unwrap_or(starttime - 86_400);
    pve.next_pid = pve.next_pid.wrapping_add(1).max(1000);
    let pid = pve.next_pid;
    // Clock ticks (100 Hz) since boot, like /proc/<pid>/stat's start time.
    let pstart = ((now - boot * 1000).max(0) / 10) as u64;
    let upid = format!(
        "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
        req.node, pid, pstart, starttime, req.kind, req.id, req.user
    );
    let duration = sim.timings().pve.task_ms(req.kind) as i64;
    // Queue behind running tasks of the same VM (they hold its flock).
    let queued_after = req
        .vmid
        .and_then(|vmid| {
            pve.tasks
                .iter()
                .filter(|t| t.running && t.vmid == Some(vmid))
                .map(|t| t.ends_at_ms)
                .max()
        })
        .unwrap_or(now);
    let ends_at_ms = queued_after.max(now) + duration;
    let failure = sim.take_async_failure("pve", req.kind).map(|f| f.message);
    pve.tasks.push(Task {
        upid: upid.clone(),
        node: req.node.to_string(),
        pid,
        pstart,
        starttime,
        kind: req.kind.to_string(),
        id: req.id,
        user: req.user.to_string(),
        vmid: req.vmid,
        ends_at_ms,
        running: true,
        exitstatus: None,
        log: req.first_log,
        action: req.action,
        failure,
    });
    // Keep the task list bounded like PVE's rotating index.
    if pve.tasks.len() > 2000 {
        let drop = pve.tasks.len() - 2000;
        let mut removed = 0;
        pve.tasks.retain(|t| {
            if removed < drop && !t.running {
                removed += 1;
                false
            } else {
                true
            }
        });
    }
    schedule(sim, ends_at_ms);
    upid
}

/// Wakes up when a task is due and finishes it.
pub fn schedule(sim: &Arc<Sim>, ends_at_ms: i64) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let sim = Arc::clone(sim);
    let epoch = sim.epoch();
    handle.spawn(async move {
        let wait = (ends_at_ms - now_ms()).max(0) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        if sim.epoch() == epoch && !sim.is_halted() {
            advance(&sim);
        }
    });
}

/// Finishes every task that is due. Called by the timers and at the start of every PVE request, so the
/// world is current even right after a restart from `--state`.
pub fn advance(sim: &Arc<Sim>) {
    let due = sim.read(|w| {
        w.pve
            .tasks
            .iter()
            .any(|t| t.running && t.ends_at_ms <= now_ms())
    });
    if !due {
        return;
    }
    let events = sim.mutate(|w| finish_due(w, now_ms()));
    for (kind, detail) in events {
        sim.record_event("pve", &kind, detail);
    }
    sim.notify_change();
}

/// Reschedules the timers of tasks that were running when the world was saved.
pub fn resume_all(sim: &Arc<Sim>) {
    let ends: Vec<i64> = sim.read(|w| {
        w.pve
            .tasks
            .iter()
            .filter(|t| t.running)
            .map(|t| t.ends_at_ms)
            .collect()
    });
    for end in ends {
        schedule(sim, end);
    }
}

pub type Events = Vec<(String, String)>;

fn finish_due(world: &mut World, now: i64) -> Events {
    let mut events = Vec::new();
    loop {
        let next = world
            .pve
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.running && t.ends_at_ms <= now)
            .min_by_key(|(_, t)| t.ends_at_ms)
            .map(|(i, _)| i);
        let Some(i) = next else { break };
        let (action, failure) = {
            let t = &world.pve.tasks[i];
            (t.action.clone(), t.failure.clone())
        };
        let mut log = Vec::new();
        let result = match failure {
            Some(message) => {
                vm_lifecycle::task_failed_injected(world, &action, &mut events);
                Err(message)
            }
            None => vm_lifecycle::run_task(world, &action, &mut log, &mut events),
        };
        let t = &mut world.pve.tasks[i];
        t.running = false;
        t.log.extend(log);
        match result {
            Ok(()) => {
                t.log.push("TASK OK".into());
                t.exitstatus = Some("OK".into());
            }
            Err(message) => {
                let message = message.trim_end().to_string();
                t.log.push(format!("TASK ERROR: {message}"));
                t.exitstatus = Some(message);
            }
        }
    }
    events
}

/// `GET /nodes/{node}/tasks/{upid}/log` lines.
pub fn log_json(task: &Task, start: usize, limit: usize) -> (Vec<Value>, usize) {
    let lines: Vec<&str> = if task.log.is_empty() {
        vec!["no content"]
    } else {
        task.log.iter().map(String::as_str).collect()
    };
    let total = lines.len();
    let out = lines
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, t)| json!({ "n": i + 1, "t": t }))
        .collect();
    (out, total)
}

/// Which task records `GET /nodes/{node}/tasks` reads (`source`): the active-worker file (running tasks), the
/// archive index (finished tasks), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSource {
    Archive,
    Active,
    All,
}

/// `PVE::Tools::upid_normalize_status_type`: the class `statusfilter` selects on. A running task has no status
/// yet and counts as `unknown`.
pub fn status_type(status: Option<&str>) -> &'static str {
    match status {
        None | Some("") | Some("unexpected status") => "unknown",
        Some("OK") => "ok",
        Some(s) if is_warnings(s) => "warning",
        Some(_) => "error",
    }
}

fn is_warnings(status: &str) -> bool {
    status
        .strip_prefix("WARNINGS: ")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The validated parameters of `GET /nodes/{node}/tasks` (PVE::API2::Tasks `node_tasks`).
#[derive(Debug, Clone)]
pub struct TaskQuery {
    pub start: usize,
    pub limit: usize,
    /// Case-insensitive substring of the task's user.
    pub userfilter: Option<String>,
    /// Exact task type.
    pub typefilter: Option<String>,
    pub vmid: Option<u32>,
    /// Bounds on `starttime` (inclusive).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Status classes to list (`ok`, `warning`, `error`, `unknown`).
    pub statuses: Vec<&'static str>,
    pub source: TaskSource,
}

/// How a listed task is presented. Entries of the active-worker file keep the UPID's user as written
/// (`user@realm!token`); archived entries are split into `user` and `tokenid` (`$convert_token_task`), which also
/// changes whose they count as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskView {
    Active,
    Archived,
}

impl Task {
    /// The `user` field as the task list shows it in `view`.
    pub fn listed_user(&self, view: TaskView) -> &str {
        match view {
            TaskView::Active => &self.user,
            TaskView::Archived => self.user.split('!').next().unwrap_or(&self.user),
        }
    }

    fn list_json(&self, view: TaskView) -> Value {
        let mut v = self.upid_json(view);
        match view {
            TaskView::Active => {
                // Parsed from the active file, where `saved` is the second column.
                v["saved"] = json!("0");
                v["status"] = json!("RUNNING");
            }
            TaskView::Archived => {
                v["endtime"] = json!(self.ends_at_ms / 1000);
                if let Some(e) = &self.exitstatus {
                    v["status"] = json!(e);
                }
            }
        }
        v
    }
}

/// `GET /nodes/{node}/tasks`: running tasks first, in the order they started (the active-worker file), then
/// finished ones, most recently archived first (the index read backwards). `visible` decides what the caller
/// may see. Returns the page and `total`, the number of matching tasks on every page.
pub fn list(
    tasks: &[Task],
    node: &str,
    q: &TaskQuery,
    visible: impl Fn(&Task, TaskView) -> bool,
) -> (Vec<Value>, usize) {
    let matches = |t: &Task, view: TaskView| {
        let user = t.listed_user(view);
        q.userfilter
            .as_ref()
            .is_none_or(|f| user.to_lowercase().contains(&f.to_lowercase()))
            && visible(t, view)
            && q.typefilter.as_ref().is_none_or(|k| t.kind == *k)
            && q.vmid.is_none_or(|v| t.id == v.to_string())
            && q.since.is_none_or(|s| t.starttime >= s)
            && q.until.is_none_or(|u| t.starttime <= u)
            && q.statuses.contains(&status_type(t.exitstatus.as_deref()))
    };
    let on_node = tasks.iter().filter(|t| t.node == node);
    let mut candidates: Vec<(&Task, TaskView)> = Vec::new();
    if q.source != TaskSource::Archive {
        candidates.extend(
            on_node
                .clone()
                .filter(|t| t.running)
                .map(|t| (t, TaskView::Active)),
        );
    }
    if q.source != TaskSource::Active {
        let mut finished: Vec<&Task> = on_node.filter(|t| !t.running).collect();
        finished.sort_by(|a, b| {
            (b.ends_at_ms, b.starttime, b.pid).cmp(&(a.ends_at_ms, a.starttime, a.pid))
        });
        candidates.extend(finished.into_iter().map(|t| (t, TaskView::Archived)));
    }
    let matching: Vec<(&Task, TaskView)> = candidates
        .into_iter()
        .filter(|(t, view)| matches(t, *view))
        .collect();
    let total = matching.len();
    let page = matching
        .into_iter()
        .skip(q.start)
        .take(q.limit)
        .map(|(t, view)| t.list_json(view))
        .collect();
    (page, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_parsing() {
        let upid = "UPID:pve1:0003A2F1:0C8E4A1B:65F1C2D3:qmstart:100:root@pam:";
        assert_eq!(parse_upid(upid), Some(("pve1".into(), "qmstart".into())));
        assert_eq!(parse_upid("UPID:pve1:x:y:z:qmstart:100:root@pam:"), None);
        assert_eq!(parse_upid("garbage"), None);
        let token = "UPID:pve1:0003A2F1:0C8E4A1B:65F1C2D3:qmstart:100:root@pam!ci:";
        assert!(parse_upid(token).is_some());
    }
}
