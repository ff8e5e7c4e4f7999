//! `/nodes/{node}/tasks`: task list, status, log, stop.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::api::{check_node, respond, Call};
use super::auth::{self, Identity};
use super::error::{PveError, PveResult};
use super::state::Pve;
use super::tasks::{self, parse_upid, Task};
use crate::world::Sim;

/// Own tasks are always visible (a user also sees its tokens' tasks); others need Sys.Audit on the node.
fn may_see(pve: &Pve, who: &Identity, task: &Task) -> bool {
    let (task_user, task_token) = match task.user.split_once('!') {
        Some((u, t)) => (u, Some(t)),
        None => (task.user.as_str(), None),
    };
    let own = match &who.tokenid {
        Some(t) => task_user == who.userid && task_token == Some(t.as_str()),
        None => task_user == who.userid,
    };
    own || auth::has(pve, who, &format!("/nodes/{}", task.node), "Sys.Audit")
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

pub async fn status(
    State(sim): State<Arc<Sim>>,
    Path((node, upid)): Path<(String, String)>,
    call: Call,
) -> Response {
    respond((|| {
        let who = call.begin(&sim)?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let task = find_task(&w.pve, &node, &upid)?;
        if !may_see(&w.pve, &who, task) {
            return Err(PveError::forbidden(&format!("/nodes/{node}"), "Sys.Audit"));
        }
        Ok(task.status_json())
    })())
}

pub async fn log(
    State(sim): State<Arc<Sim>>,
    Path((node, upid)): Path<(String, String)>,
    call: Call,
) -> Response {
    let result = (|| {
        let who = call.begin(&sim)?;
        let mut p = call.params();
        let start = p.take_int("start", Some(0))?.unwrap_or(0) as usize;
        let limit = p.take_int("limit", Some(0))?.unwrap_or(50) as usize;
        p.take_bool("download")?;
        p.reject_unknown(&[])?;
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let task = find_task(&w.pve, &node, &upid)?;
        if !may_see(&w.pve, &who, task) {
            return Err(PveError::forbidden(&format!("/nodes/{node}"), "Sys.Audit"));
        }
        Ok(tasks::log_json(task, start, limit))
    })();
    match result {
        Ok((lines, total)) => axum::Json(json!({ "data": lines, "total": total })).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn list(State(sim): State<Arc<Sim>>, Path(node): Path<String>, call: Call) -> Response {
    let result = (|| {
        let who = call.begin(&sim)?;
        let filters = call.params().into_map();
        let w = sim.world();
        check_node(&w.pve, &node)?;
        let visible: Vec<Value> = tasks::list_tasks(&w, &node, &filters)
            .into_iter()
            .filter(|t| {
                let upid = t["upid"].as_str().unwrap_or_default();
                w.pve
                    .tasks
                    .iter()
                    .find(|x| x.upid == upid)
                    .is_some_and(|x| may_see(&w.pve, &who, x))
            })
            .collect();
        Ok::<_, PveError>(visible)
    })();
    match result {
        Ok(list) => {
            let total = list.len();
            axum::Json(json!({ "data": list, "total": total })).into_response()
        }
        Err(e) => e.into_response(),
    }
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
            let own = may_see(&w.pve, &who, task)
                && !auth::has(&w.pve, &who, &format!("/nodes/{node}"), "Sys.Audit")
                || task.user.split('!').next() == Some(who.userid.as_str());
            if !own {
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
