//! Our custom resources as seen by the benchmark: creation as a user would (admin client, plain JSON), and a
//! watch that notes when each object first became Ready and when it disappeared.
//!
//! Kubernetes timestamps (`creationTimestamp`, `status.completedAt`, condition `lastTransitionTime`) have
//! one-second resolution, too coarse for sub-second latencies, so the watch also records `Instant`s; the
//! object timestamps are kept for cross-checks over longer spans (throughput).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
};
use kube::runtime::watcher;
use kube::Client;
use serde_json::Value;
use tokio::sync::Notify;

/// One of our namespaced kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    VmDiskClone,
    VolumeSnapshot,
    FlexCloneMount,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::VmDiskClone => "VmDiskClone",
            Kind::VolumeSnapshot => "VolumeSnapshot",
            Kind::FlexCloneMount => "FlexCloneMount",
        }
    }

    pub fn resource(self) -> ApiResource {
        let plural = match self {
            Kind::VmDiskClone => "vmdiskclones",
            Kind::VolumeSnapshot => "volumesnapshots",
            Kind::FlexCloneMount => "flexclonemounts",
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("pveontap.io", "v1alpha1", self.name()),
            plural,
        )
    }
}

/// What the watch saw of one object.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub ready_at: Option<Instant>,
    pub gone_at: Option<Instant>,
    pub phase: Option<String>,
    pub message: Option<String>,
    /// RFC 3339 timestamps as the apiserver returned them.
    pub created: Option<String>,
    pub completed: Option<String>,
    pub ready_transition: Option<String>,
}

impl Seen {
    pub fn failed(&self) -> bool {
        self.phase.as_deref() == Some("Failed")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("{kind} {name} failed: {message}")]
    Failed {
        kind: &'static str,
        name: String,
        message: String,
    },
    #[error("timed out after {waited:?} waiting for {what}: {pending} of {total} not there yet (e.g. {example})")]
    Timeout {
        what: &'static str,
        waited: Duration,
        pending: usize,
        total: usize,
        example: String,
    },
}

/// A running watch of one kind in one namespace.
pub struct Tracker {
    kind: Kind,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ready_condition(obj: &DynamicObject) -> Option<&Value> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

impl Tracker {
    /// Starts the watch and returns once its initial list is in.
    pub async fn start(client: Client, namespace: &str, kind: Kind) -> Tracker {
        let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &kind.resource());
        let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
        let changed = Arc::new(Notify::new());
        let synced = Arc::new(Notify::new());
        let (seen2, changed2, synced2) = (seen.clone(), changed.clone(), synced.clone());
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) => {
                        let now = Instant::now();
                        let mut map = seen2.lock().unwrap_or_else(|p| p.into_inner());
                        match event {
                            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                                let entry = map
                                    .entry(obj.metadata.name.clone().unwrap_or_default())
                                    .or_default();
                                observe(entry, &obj, now);
                            }
                            watcher::Event::Delete(obj) => {
                                let entry = map
                                    .entry(obj.metadata.name.clone().unwrap_or_default())
                                    .or_default();
                                entry.gone_at.get_or_insert(now);
                            }
                            watcher::Event::Init => {}
                            watcher::Event::InitDone => synced2.notify_one(),
                        }
                        drop(map);
                        changed2.notify_waiters();
                    }
                    Ok(None) => return,
                    // The watcher re-lists by itself; a short pause keeps a broken apiserver from spinning us.
                    Err(e) => {
                        tracing::warn!(error = %e, "watch error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        synced.notified().await;
        Tracker {
            kind,
            seen,
            changed,
            task,
        }
    }

    pub fn get(&self, name: &str) -> Option<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Snapshot of several objects.
    pub fn get_all(&self, names: &[String]) -> Vec<Seen> {
        let map = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .map(|n| map.get(n).cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until every object is Ready; fails fast when one reports phase Failed.
    pub async fn wait_ready(&self, names: &[String], timeout: Duration) -> Result<(), WaitError> {
        self.wait(names, timeout, "Ready", |s| s.ready_at.is_some(), true)
            .await
    }

    /// Waits until every object is gone from the apiserver (finalizer released).
    pub async fn wait_gone(&self, names: &[String], timeout: Duration) -> Result<(), WaitError> {
        self.wait(names, timeout, "deletion", |s| s.gone_at.is_some(), false)
            .await
    }

    /// Waits until every object has reached a phase other than `InProgress`/`Pending` (any outcome).
    pub async fn wait_settled(&self, names: &[String], timeout: Duration) -> Result<(), WaitError> {
        self.wait(
            names,
            timeout,
            "a final phase",
            |s| matches!(s.phase.as_deref(), Some("Ready" | "Failed")),
            false,
        )
        .await
    }

    async fn wait(
        &self,
        names: &[String],
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&Seen) -> bool,
        fail_fast: bool,
    ) -> Result<(), WaitError> {
        let started = Instant::now();
        loop {
            // Registered before looking, so a change between the check and the await is not missed.
            let notified = self.changed.notified();
            {
                let map = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                let mut pending = 0;
                let mut example = String::new();
                for name in names {
                    let s = map.get(name);
                    if s.is_some_and(&done) {
                        continue;
                    }
                    if fail_fast {
                        if let Some(s) = s.filter(|s| s.failed()) {
                            return Err(WaitError::Failed {
                                kind: self.kind.name(),
                                name: name.clone(),
                                message: s.message.clone().unwrap_or_default(),
                            });
                        }
                    }
                    if pending == 0 {
                        example = match s {
                            Some(s) => format!(
                                "{name}: phase {:?}, {:?}",
                                s.phase.as_deref().unwrap_or("-"),
                                s.message.as_deref().unwrap_or("")
                            ),
                            None => format!("{name}: not seen"),
                        };
                    }
                    pending += 1;
                }
                if pending == 0 {
                    return Ok(());
                }
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(WaitError::Timeout {
                        what,
                        waited,
                        pending,
                        total: names.len(),
                        example,
                    });
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), notified).await;
        }
    }
}

fn observe(entry: &mut Seen, obj: &DynamicObject, now: Instant) {
    let status = &obj.data["status"];
    entry.phase = status["phase"].as_str().map(str::to_owned);
    entry.message = status["message"].as_str().map(str::to_owned);
    entry.created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string());
    entry.completed = status["completedAt"].as_str().map(str::to_owned);
    if let Some(ready) = ready_condition(obj).filter(|c| c["status"] == "True") {
        entry.ready_at.get_or_insert(now);
        entry.ready_transition = ready["lastTransitionTime"].as_str().map(str::to_owned);
    }
}

/// Creates and deletes objects of our kinds with an admin client.
#[derive(Clone)]
pub struct Objects {
    client: Client,
    namespace: String,
}

impl Objects {
    pub fn new(client: Client, namespace: &str) -> Self {
        Objects {
            client,
            namespace: namespace.to_owned(),
        }
    }

    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.resource())
    }

    /// Creates `kind/name` with this spec and a `bench=<label>` label.
    pub async fn create(
        &self,
        kind: Kind,
        name: &str,
        label: &str,
        spec: Value,
    ) -> Result<(), kube::Error> {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "pveontap.io/v1alpha1",
            "kind": kind.name(),
            "metadata": { "name": name, "namespace": self.namespace, "labels": { "bench": label } },
            "spec": spec,
        }))
        .map_err(kube::Error::SerdeError)?;
        self.api(kind)
            .create(&PostParams::default(), &obj)
            .await
            .map(|_| ())
    }

    pub async fn delete(&self, kind: Kind, name: &str) -> Result<(), kube::Error> {
        match self.api(kind).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes every object of `kind` labelled `bench=<label>` with one request.
    pub async fn delete_labelled(&self, kind: Kind, label: &str) -> Result<(), kube::Error> {
        self.api(kind)
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&format!("bench={label}")),
            )
            .await
            .map(|_| ())
    }
}

/// A `VmDiskClone` spec.
pub fn vm_disk_clone(pve: &str, vmid: u32, consistency: &str) -> Value {
    serde_json::json!({
        "proxmoxClusterRef": { "name": pve },
        "vmid": vmid,
        "consistency": consistency,
        "attach": "Unused",
        "deletionPolicy": "Delete",
    })
}

/// Creates many objects with bounded parallelism; returns when every create has been answered.
pub async fn create_many(
    objects: &Objects,
    kind: Kind,
    label: &str,
    items: Vec<(String, Value)>,
    parallel: usize,
) -> Result<(), kube::Error> {
    futures::stream::iter(items)
        .map(|(name, spec)| {
            let objects = objects.clone();
            async move { objects.create(kind, &name, label, spec).await }
        })
        .buffer_unordered(parallel.max(1))
        .try_collect::<()>()
        .await
}

/// Parses an RFC 3339 timestamp of the apiserver.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_records_ready_once() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "pveontap.io/v1alpha1", "kind": "VmDiskClone",
            "metadata": { "name": "a", "creationTimestamp": "2026-01-01T00:00:00Z" },
            "status": { "phase": "Ready", "completedAt": "2026-01-01T00:00:01Z",
                "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z",
                    "reason": "Ready", "message": "" }] },
        }))
        .unwrap();
        let mut seen = Seen::default();
        let t0 = Instant::now();
        observe(&mut seen, &obj, t0);
        observe(&mut seen, &obj, t0 + Duration::from_secs(5));
        assert_eq!(seen.ready_at, Some(t0));
        assert_eq!(seen.phase.as_deref(), Some("Ready"));
        let created = parse_time(seen.created.as_deref().unwrap()).unwrap();
        let completed = parse_time(seen.completed.as_deref().unwrap()).unwrap();
        assert_eq!((completed - created).num_seconds(), 1);
    }
}
