//! `status`: the backends the namespace may use (Ready, version, nodes, SVMs) and its objects per phase, with
//! what holds up those that are not Ready.

use std::collections::BTreeMap;

use kube::ResourceExt;
use pve_ontap_controller::api::{
    FlexCloneMount, OntapCluster, ProxmoxCluster, VmDiskClone, VolumeSnapshot,
    VolumeSnapshotRestore, VolumeSnapshotSchedule,
};
use serde_json::Value;

use crate::context::Ctx;
use crate::submit::{self, Kind};
use crate::{lookup, view};

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let backends = backends(ctx).await;
    let mut objects: Vec<(&str, Vec<Value>)> = Vec::new();
    objects.push((
        "VmDiskClone",
        values(lookup::list::<VmDiskClone>(ctx).await?),
    ));
    objects.push((
        "VolumeSnapshot",
        values(lookup::list::<VolumeSnapshot>(ctx).await?),
    ));
    objects.push((
        "FlexCloneMount",
        values(lookup::list::<FlexCloneMount>(ctx).await?),
    ));
    objects.push((
        "VolumeSnapshotRestore",
        values(lookup::list::<VolumeSnapshotRestore>(ctx).await?),
    ));
    objects.push((
        "VolumeSnapshotSchedule",
        values(lookup::list::<VolumeSnapshotSchedule>(ctx).await?),
    ));
    if let Some(output) = ctx.global.output {
        let mut all: Vec<Value> = backends
            .as_ref()
            .map(|(rows, _)| rows.clone())
            .unwrap_or_default();
        all.extend(objects.into_iter().flat_map(|(_, v)| v));
        return submit::print_objects(output, &all);
    }
    println!("Backends admitting namespace {}:", ctx.namespace);
    match &backends {
        Ok((_, table)) => print!("{table}"),
        Err(why) => println!("  {why}"),
    }
    println!();
    println!("Objects in namespace {}:", ctx.namespace);
    let mut stuck: Vec<String> = Vec::new();
    for (kind, list) in &objects {
        let mut phases: BTreeMap<String, usize> = BTreeMap::new();
        for o in list {
            let c = view::common(o);
            *phases.entry(c.phase.clone()).or_default() += 1;
            if !c.is_ready() {
                stuck.push(format!("  {}", view::progress_line(kind, o)));
            }
        }
        let counts = if phases.is_empty() {
            "none".to_owned()
        } else {
            phases
                .iter()
                .map(|(p, n)| format!("{n} {p}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("  {kind:<23} {counts}");
    }
    if !stuck.is_empty() {
        println!();
        println!("Not Ready:");
        for line in stuck {
            println!("{line}");
        }
    }
    Ok(())
}

fn values<K: Kind>(list: Vec<K>) -> Vec<Value> {
    list.iter()
        .filter_map(|k| serde_json::to_value(k).ok())
        .collect()
}

/// The backends as JSON (for `-o`) and as a table, or why they cannot be listed.
async fn backends(ctx: &Ctx) -> Result<(Vec<Value>, String), String> {
    let pve = ctx
        .list_backends::<ProxmoxCluster>("ProxmoxCluster", "--proxmox")
        .await
        .map_err(|e| e.to_string())?;
    let ontap = ctx
        .list_backends::<OntapCluster>("OntapCluster", "--ontap")
        .await
        .map_err(|e| e.to_string())?;
    let mut json = Vec::new();
    let mut rows = Vec::new();
    for b in pve
        .iter()
        .filter(|b| b.spec.allows_namespace(&ctx.namespace))
    {
        let v = serde_json::to_value(b).unwrap_or_default();
        let nodes: Vec<String> = v["status"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                format!(
                    "{} ({})",
                    n["name"].as_str().unwrap_or("?"),
                    n["status"].as_str().unwrap_or("?")
                )
            })
            .collect();
        rows.push(backend_row(
            "ProxmoxCluster",
            &b.name_any(),
            &v,
            format!("nodes: {}", view::or_dash(Some(&nodes.join(", ")))),
        ));
        json.push(v);
    }
    for b in ontap
        .iter()
        .filter(|b| b.spec.allows_namespace(&ctx.namespace))
    {
        let v = serde_json::to_value(b).unwrap_or_default();
        let svms: Vec<&str> = v["status"]["svms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        let cluster = view::or_dash(v["status"]["clusterName"].as_str());
        rows.push(backend_row(
            "OntapCluster",
            &b.name_any(),
            &v,
            format!(
                "cluster {cluster}, SVMs: {}",
                view::or_dash(Some(&svms.join(", ")))
            ),
        ));
        json.push(v);
    }
    if rows.is_empty() {
        return Ok((
            json,
            "  none: ask your cluster administrator to admit this namespace\n".into(),
        ));
    }
    let table = view::table(
        &["KIND", "NAME", "READY", "VERSION", "DETAILS", "MESSAGE"],
        &rows,
    );
    let indented: String = table.lines().map(|l| format!("  {l}\n")).collect();
    Ok((json, indented))
}

fn backend_row(kind: &str, name: &str, v: &Value, details: String) -> Vec<String> {
    let c = view::common(v);
    let ready = c
        .ready
        .as_ref()
        .map(|(s, _, _)| s.clone())
        .unwrap_or_else(|| "Unknown".into());
    let message = if ready == "True" {
        String::new()
    } else {
        c.detail().to_owned()
    };
    vec![
        kind.to_owned(),
        name.to_owned(),
        ready,
        view::or_dash(v["status"]["version"].as_str()),
        details,
        view::or_dash(Some(&message)),
    ]
}
