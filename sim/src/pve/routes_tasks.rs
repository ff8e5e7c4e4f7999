//! `/nodes/{node}/tasks`: task list, status, log, stop.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::api::{check_node, parse_vmid, respond, respond_with_total, Call};
use super::auth::{self, Identity};
use super::error::{PveError, PveResult};
use super::params::Params;
use super::state::Pve;
use super::tasks::{self, parse_upid, Task, TaskQuery, TaskSource, TaskView};
use crate::world::Sim;

/// `$check_task_user`: whether the task counts as the caller's own. A token owns only its token's tasks, a user
/// its own and its tokens' ones — as far as the record shows the token: entries of the active-worker file keep
/// `user@realm!token` as the user, so there only the token itself matches.
fn owns(who: &Identity, task: &Task, view: TaskView) -> bool {
    let caller = who.ident();
    match (view, task.user.split_once('!')) {
        (TaskView::Archived, Some((user, _))) => caller == task.user || caller == user,
        _ => caller == task.user,
    }
}

/// Own tasks are always visible; others need Sys.Audit on the node.
fn may_see(pve: &Pve, who: &Identity, task: &Task, view: TaskView) -> bool {
    owns(who, task, view) || auth::has(pve, who, &format!("/nodes/{}", task.node), "Sys.Audit")
}

fn find_task<'a>(pve: &'a Pve, node: &str, upid: &str) -> PveResult<&'a Task> {
    let Some((upid_node, _)) = parse_upid(upid) else {
        return Err(PveError::param("upid", "unable to parse worker upid"));
    };
    if upid_node != node {
        return Err(PveError::param("upid", "no such task"));
    }
    pve.tasks
        .iter()
        .find(|t| t.upid == upid)
        .ok_or_else(|| PveError::param("upid", "no such task"))
}

/// The task named in the path, if the caller may read it: its own, or any with Sys.Audit on the node.
fn readable_task<'a>(pve: &'a Pve, who: &Identity, node: &str, upid: &str) -> PveResult<&'a Task> {
    check_node(pve, node)?;
    let task = find_task(pve, node, upid)?;
    if !may_see(pve, who, task, TaskView::Archived) {
        return Err(PveError::forbidden(&format!("/nodes/{node}"), "Sys.Audit"));
    }
    Ok(task)
}

pub async fn status(
    State(sim): State<Arc<Sim>>,
    Path((node, upid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let w = sim.world();
        Ok(readable_task(&w.pve, &who, &node, &upid)?.status_json())
    })())
}

pub async fn log(
    State(sim): State<Arc<Sim>>,
    Path((node, upid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond_with_total((|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let start = p.take_int("start", Some(0))?.unwrap_or(0) as usize;
        let limit = p.take_int("limit", Some(0))?.unwrap_or(50) as usize;
        p.take_bool("download")?;
        p.reject_unknown(&[])?;
        let w = sim.world();
        let task = readable_task(&w.pve, &who, &node, &upid)?;
        Ok(tasks::log_json(task, start, limit))
    })())
}

/// `GET /nodes/{node}/tasks` (`node_tasks`): any authenticated user may ask; the list holds the caller's own
/// tasks, or every task with Sys.Audit on the node.
pub async fn list(State(sim): State<Arc<Sim>>, Path(node): Path<String>, call: Call) -> Response {
    respond_with_total((|| {
        let who = call.begin(&sim)?;
        let query = task_query(call.params())?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        Ok(tasks::list(&w.pve.tasks, &node, &query, |t, view| {
            may_see(&w.pve, &who, t, view)
        }))
    })())
}

const STATUS_TYPES: [&str; 4] = ["ok", "warning", "error", "unknown"];

/// Validates the parameters like `node_tasks`' schema and folds `errors`/`statusfilter` into the status classes
/// to list (`errors=1` wins over `statusfilter` and drops `ok`).
fn task_query(mut p: Params) -> PveResult<TaskQuery> {
    let start = p.take_int("start", Some(0))?.unwrap_or(0) as usize;
    let limit = p.take_int("limit", Some(0))?.unwrap_or(50) as usize;
    let userfilter = p.take("userfilter");
    let typefilter = p.take("typefilter");
    let vmid = p.take("vmid").map(|v| parse_vmid(&v)).transpose()?;
    let errors = p.take_bool("errors")?.unwrap_or(false);
    let source = match p.take("source").as_deref() {
        None | Some("archive") => TaskSource::Archive,
        Some("active") => TaskSource::Active,
        Some("all") => TaskSource::All,
        Some(other) => {
            return Err(PveError::param(
                "source",
                format!(
                "value '{other}' does not have a value in the enumeration 'archive, active, all'"
            ),
            ))
        }
    };
    let since = p.take_int("since", None)?;
    let until = p.take_int("until", None)?;
    let statusfilter = p.take("statusfilter");
    p.reject_unknown(&[])?;
    let statuses = match (&statusfilter, errors) {
        (Some(list), false) => {
            let mut chosen = Vec::new();
            // `PVE::Tools::split_list`: separated by commas, semicolons or white space.
            for item in list
                .split([',', ';', ' ', '\t', '\n', '\0'])
                .filter(|s| !s.is_empty())
            {
                let class = STATUS_TYPES
                    .into_iter()
                    .find(|c| c.eq_ignore_ascii_case(item))
                    .ok_or_else(|| {
                        PveError::param(
                            "statusfilter",
                            format!("invalid format - value '{item}' is not a task status type (ok, warning, error, unknown)"),
                        )
                    })?;
                chosen.push(class);
            }
            chosen
        }
        (_, true) => vec!["warning", "error", "unknown"],
        (None, false) => STATUS_TYPES.to_vec(),
    };
    Ok(TaskQuery {
        start,
        limit,
        userfilter,
        typefilter,
        vmid,
        since,
        until,
        statuses,
        source,
    })
}

/// `DELETE /nodes/{node}/tasks/{upid}`: stops a running worker; it ends with `unexpected status`.
pub async fn stop(
    State(sim): State<Arc<Sim>>,
    Path((node, upid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        sim.mutate(|w| {
            check_node(&w.pve, &node)?;
            let task = find_task(&w.pve, &node, &upid)?;
            if !owns(&who, task, TaskView::Archived) {
                auth::check(&w.pve, &who, &format!("/nodes/{node}"), &["Sys.Modify"])?;
            }
            if let Some(t) = w.pve.tasks.iter_mut().find(|t| t.upid == upid && t.running) {
                t.running = false;
                t.log.push("received interrupt".into());
                t.log.push("TASK ERROR: unexpected status".into());
                t.exitstatus = Some("unexpected status".into());
            }
            Ok::<_, PveError>(Value::Null)
        })
    })())
}
