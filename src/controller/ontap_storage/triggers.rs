//! When discovery refreshes besides its period: a VolumeSnapshot or FlexCloneMount whose snapshot or clone
//! changed (made, removed, ready), an OntapCluster whose spec changed, an OntapStorage someone deleted. Each
//! watch event is reduced to a fingerprint of what discovery shows; only a changed fingerprint (or a deletion)
//! triggers, so status writes that change nothing shown (a window's progress, our own refresh) cost nothing.

use std::collections::HashMap;
use std::fmt::Debug;

use futures::stream::BoxStream;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::api::{FlexCloneMount, OntapCluster, OntapStorage, VolumeSnapshot};

/// `()` whenever an object's fingerprint changes or it is deleted; the initial listing only records.
fn changes<K>(api: Api<K>, fingerprint: fn(&K) -> String) -> BoxStream<'static, ()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let mut seen: HashMap<String, String> = HashMap::new();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let fire = match event {
                Ok(Event::Apply(o)) => {
                    let fp = fingerprint(&o);
                    seen.insert(o.uid().unwrap_or_default(), fp.clone()) != Some(fp)
                }
                // After a watch restart: only what changed while the watch was down.
                Ok(Event::InitApply(o)) => {
                    let fp = fingerprint(&o);
                    seen.insert(o.uid().unwrap_or_default(), fp.clone())
                        .is_some_and(|old| old != fp)
                }
                Ok(Event::Delete(o)) => {
                    seen.remove(&o.uid().unwrap_or_default());
                    true
                }
                Ok(Event::Init | Event::InitDone) | Err(_) => false,
            };
            futures::future::ready(fire.then_some(()))
        })
        .boxed()
}

fn volume_snapshot(vs: &VolumeSnapshot) -> String {
    let s = vs.status.clone().unwrap_or_default();
    format!(
        "{:?}|{:?}|{}|{}",
        s.snapshot_uuid,
        s.snapshot_name,
        s.ready_to_use,
        vs.meta().deletion_timestamp.is_some()
    )
}

fn flex_clone_mount(m: &FlexCloneMount) -> String {
    let s = m.status.clone().unwrap_or_default();
    // The phase too: the Proxmox storage is added after the clone, and Ready says it is there.
    format!(
        "{:?}|{:?}|{:?}|{}|{}",
        s.clone_volume_uuid,
        s.storage_id,
        s.phase,
        s.split_complete,
        m.meta().deletion_timestamp.is_some()
    )
}

fn generation<K: Resource>(o: &K) -> String {
    format!("{:?}", o.meta().generation)
}

/// Only deletions count: our own status writes must not trigger a refresh.
fn never(_: &OntapStorage) -> String {
    String::new()
}

/// Every trigger of discovery, merged.
pub fn stream(client: &Client, namespaces: &[String]) -> BoxStream<'static, ()> {
    let mut streams: Vec<BoxStream<'static, ()>> = vec![
        changes(
            Api::<OntapCluster>::all(client.clone()),
            generation::<OntapCluster>,
        ),
        changes(Api::<OntapStorage>::all(client.clone()), never),
    ];
    if namespaces.is_empty() {
        streams.push(changes(Api::all(client.clone()), volume_snapshot));
        streams.push(changes(Api::all(client.clone()), flex_clone_mount));
    } else {
        for ns in namespaces {
            streams.push(changes(
                Api::namespaced(client.clone(), ns),
                volume_snapshot,
            ));
            streams.push(changes(
                Api::namespaced(client.clone(), ns),
                flex_clone_mount,
            ));
        }
    }
    futures::stream::select_all(streams).boxed()
}
