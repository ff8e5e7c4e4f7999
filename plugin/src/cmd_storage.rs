//! `storage snapshot|list|delete|mount|unmount|show`: VolumeSnapshot and FlexCloneMount objects. (`restore` is
//! in `cmd_restore`.)

use chrono::Utc;
use kube::ResourceExt;
use pve_ontap_controller::api::{FlexCloneMount, VolumeSnapshot, VolumeSnapshotRestore};
use serde_json::Value;

use crate::cli::{StorageCommand, StorageMount, StorageSnapshot};
use crate::context::{fail, Ctx};
use crate::discovery::{self, Discovery};
use crate::manifests::{self, SnapshotRef, SnapshotTarget};
use crate::{cmd_restore, lookup, submit, view};

pub async fn run(ctx: &Ctx, cmd: &StorageCommand) -> anyhow::Result<()> {
    match cmd {
        StorageCommand::Snapshot(args) => snapshot(ctx, args).await,
        StorageCommand::List { storage } => list(ctx, storage.as_deref()).await,
        StorageCommand::Delete { snapshot } => delete(ctx, snapshot).await,
        StorageCommand::Restore(args) => cmd_restore::run(ctx, args).await,
        StorageCommand::Mount(args) => mount(ctx, args).await,
        StorageCommand::Unmount { name } => unmount(ctx, name).await,
        StorageCommand::Show { name } => show(ctx, name).await,
    }
}

async fn snapshot(ctx: &Ctx, args: &StorageSnapshot) -> anyhow::Result<()> {
    let target = match (&args.storage, &args.volume) {
        (_, Some(volume)) => {
            let (svm, volume) = volume
                .split_once('/')
                .filter(|(s, v)| !s.is_empty() && !v.is_empty())
                .ok_or_else(|| {
                    fail(format!(
                        "--volume {volume:?}: expected SVM/VOLUME, e.g. svm1/pve_images"
                    ))
                })?;
            SnapshotTarget::Volume {
                ontap: ctx.ontap().await?,
                svm: svm.to_owned(),
                volume: volume.to_owned(),
            }
        }
        (Some(storage), None) => SnapshotTarget::Storage {
            proxmox: ctx.proxmox().await?,
            storage: storage.clone(),
        },
        (None, None) => return Err(fail("name a STORAGE (or --volume SVM/VOLUME)")),
    };
    let obj = manifests::volume_snapshot(args, &target, ctx.manifest_namespace(), Utc::now())?;
    if let Some(done) = submit::create_and_follow(ctx, &obj).await? {
        let st = &done["status"];
        println!(
            "  ONTAP snapshot {} of volume {} (SVM {}), consistency {}",
            view::or_dash(st["snapshotName"].as_str()),
            view::or_dash(st["volumeName"].as_str()),
            view::or_dash(st["svm"].as_str()),
            view::or_dash(st["consistencyApplied"].as_str()),
        );
    }
    Ok(())
}

/// `(storage, volume)` a snapshot is of, for display.
fn storage_of(v: &Value) -> String {
    v["spec"]["storage"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            v["spec"]["ontapVolume"]["name"].as_str().map(|n| {
                format!(
                    "{}/{n}",
                    v["spec"]["ontapVolume"]["svm"].as_str().unwrap_or("?")
                )
            })
        })
        .unwrap_or_else(|| "-".into())
}

async fn list(ctx: &Ctx, storage: Option<&str>) -> anyhow::Result<()> {
    let mut snaps = lookup::list::<VolumeSnapshot>(ctx).await?;
    snaps.retain(|s| {
        storage.is_none_or(|want| {
            s.spec
                .storage
                .as_deref()
                .is_some_and(|st| st.eq_ignore_ascii_case(want))
        })
    });
    let mounts = lookup::list::<FlexCloneMount>(ctx).await?;
    let found = discovery::load(ctx).await;
    let mut values: Vec<(Value, String)> = snaps
        .iter()
        .map(|s| {
            let v = serde_json::to_value(s).unwrap_or_default();
            let used: Vec<String> = lookup::mounts_of(&mounts, &s.name_any())
                .into_iter()
                .map(lookup::mount_label)
                .collect();
            (v, used.join(", "))
        })
        .collect();
    // Oldest first within a storage, as ONTAP lists snapshots.
    values.sort_by_key(|(v, _)| (storage_of(v), taken_at(v)));
    if let Some(output) = ctx.global.output {
        let objects: Vec<Value> = values.into_iter().map(|(v, _)| v).collect();
        return submit::print_objects(output, &objects);
    }
    let elsewhere = match storage {
        Some(s) => others_note(ctx, &found, &snaps, s).await,
        None => None,
    };
    if values.is_empty() {
        match storage {
            Some(s) => println!(
                "No snapshots of storage {s} in namespace {}.",
                ctx.namespace
            ),
            None => println!("No snapshots in namespace {}.", ctx.namespace),
        }
        if let Some(note) = elsewhere {
            println!("{note}");
        }
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|(v, used)| {
            let st = &v["status"];
            let size = st["snapshotUuid"]
                .as_str()
                .and_then(|u| found.snapshot(u))
                .map_or_else(|| "-".into(), discovery::size);
            vec![
                storage_of(v),
                view::name(v).to_owned(),
                view::or_dash(st["snapshotName"].as_str()),
                view::age(taken_at(v), now),
                size,
                view::or_dash(st["consistencyApplied"].as_str()),
                view::common(v).phase,
                view::or_dash(Some(used)),
            ]
        })
        .collect();
    print!(
        "{}",
        view::table(
            &[
                "STORAGE",
                "SNAPSHOT",
                "ONTAP SNAPSHOT",
                "AGE",
                "SIZE",
                "CONSISTENCY",
                "PHASE",
                "MOUNTED AS"
            ],
            &rows
        )
    );
    if let Discovery::Unreadable(why) = &found {
        eprintln!("note: {why}: sizes are not shown");
    }
    if let Some(note) = elsewhere {
        println!("{note}");
    }
    Ok(())
}

/// The line saying how many more snapshots the storage's volume holds than the namespace's objects name (made by
/// hand, by an ONTAP policy, by another namespace); `None` when discovery cannot tell or there are none.
async fn others_note(
    ctx: &Ctx,
    found: &Discovery,
    snaps: &[VolumeSnapshot],
    storage: &str,
) -> Option<String> {
    let pve = match snaps
        .iter()
        .find_map(|s| s.spec.proxmox_cluster_ref.as_ref().map(|r| r.name.clone()))
    {
        Some(p) => p,
        None => ctx.proxmox().await.ok()?,
    };
    let status = found.storage(&pve, storage)?.status.as_ref()?;
    let ours: Vec<&str> = snaps
        .iter()
        .filter_map(|s| s.status.as_ref()?.snapshot_uuid.as_deref())
        .collect();
    let others = status
        .snapshots
        .iter()
        .filter(|d| !ours.contains(&d.uuid.as_str()))
        .count();
    (others > 0).then(|| {
        format!(
            "{others} more snapshot(s) on volume {} that no object of namespace {} names: \
             `kubectl pveontap storage show {storage}` lists them",
            status.volume.name, ctx.namespace
        )
    })
}

/// When ONTAP took the snapshot, else when the object was created.
fn taken_at(v: &Value) -> Option<chrono::DateTime<Utc>> {
    view::time(&v["status"]["createTime"]).or_else(|| view::created(v))
}

async fn delete(ctx: &Ctx, arg: &str) -> anyhow::Result<()> {
    let snap = lookup::existing_snapshot(ctx, arg).await?;
    let name = snap.name_any();
    // A deletion cannot be taken back, and the controller keeps a snapshot a mount depends on: refuse up front
    // instead of leaving an object stuck in deletion.
    let mounts = lookup::list::<FlexCloneMount>(ctx).await?;
    let users = lookup::mounts_of(&mounts, &name);
    if !users.is_empty() {
        let labels: Vec<String> = users.iter().map(|m| lookup::mount_label(m)).collect();
        return Err(fail(format!(
            "VolumeSnapshot {name} is mounted as {}; unmount first (kubectl pveontap storage unmount {})",
            labels.join(", "),
            users[0].name_any()
        )));
    }
    submit::delete::<VolumeSnapshot>(ctx, &name).await
}

async fn mount(ctx: &Ctx, args: &StorageMount) -> anyhow::Result<()> {
    let snapshot = match &args.storage {
        Some(storage) => SnapshotRef::Foreign {
            proxmox: ctx.proxmox().await?,
            storage: storage.clone(),
            snapshot: args.snapshot.clone(),
        },
        None => SnapshotRef::Object(
            lookup::existing_snapshot(ctx, &args.snapshot)
                .await?
                .name_any(),
        ),
    };
    let obj = manifests::flex_clone_mount(args, &snapshot, ctx.manifest_namespace(), Utc::now())?;
    if let Some(done) = submit::create_and_follow(ctx, &obj).await? {
        let st = &done["status"];
        println!(
            "  Proxmox storage {} (FlexClone {} at {} on {})",
            view::or_dash(st["storageId"].as_str()),
            view::or_dash(st["cloneVolumeName"].as_str()),
            view::or_dash(st["junctionPath"].as_str()),
            view::or_dash(st["server"].as_str()),
        );
    }
    Ok(())
}

async fn unmount(ctx: &Ctx, arg: &str) -> anyhow::Result<()> {
    let Some(m) = lookup::mount(ctx, arg).await? else {
        return Err(fail(format!(
            "no FlexCloneMount in namespace {} is named {arg:?} (object name or Proxmox storage id); \
             `kubectl pveontap storage list` shows the mounts",
            ctx.namespace
        )));
    };
    submit::delete::<FlexCloneMount>(ctx, &m.name_any()).await
}

async fn show(ctx: &Ctx, arg: &str) -> anyhow::Result<()> {
    if let Some(s) = lookup::snapshot(ctx, arg).await? {
        return show_snapshot(ctx, &s).await;
    }
    if let Some(m) = lookup::mount(ctx, arg).await? {
        return show_object(
            ctx,
            "FlexCloneMount",
            &serde_json::to_value(&m)?,
            mount_lines,
        );
    }
    show_storage(ctx, arg).await
}

fn show_object(
    ctx: &Ctx,
    kind: &str,
    v: &Value,
    details: fn(&Value) -> Vec<(String, String)>,
) -> anyhow::Result<()> {
    if let Some(output) = ctx.global.output {
        return submit::print_objects(output, std::slice::from_ref(v));
    }
    let c = view::common(v);
    let mut lines = vec![
        ("Kind".to_owned(), kind.to_owned()),
        ("Name".into(), view::name(v).to_owned()),
        (
            "Phase".into(),
            format!("{} ({})", c.phase, view::or_dash(Some(c.reason()))),
        ),
        ("Message".into(), view::or_dash(Some(c.detail()))),
    ];
    lines.extend(details(v));
    print_pairs(&lines);
    Ok(())
}

fn print_pairs(lines: &[(String, String)]) {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        println!("{:<width$}  {v}", format!("{k}:"), width = width + 1);
    }
}

fn snapshot_lines(v: &Value) -> Vec<(String, String)> {
    let st = &v["status"];
    let s = |key: &str| view::or_dash(st[key].as_str());
    let mut lines = vec![
        ("Storage".to_owned(), storage_of(v)),
        ("ONTAP snapshot".into(), s("snapshotName")),
        ("Snapshot UUID".into(), s("snapshotUuid")),
        (
            "Volume".into(),
            format!("{} ({})", s("volumeName"), s("volumeUuid")),
        ),
        ("SVM".into(), s("svm")),
        ("OntapCluster".into(), s("ontapCluster")),
        ("Taken".into(), s("createTime")),
        ("Consistency".into(), s("consistencyApplied")),
        (
            "Ready to use".into(),
            st["readyToUse"].as_bool().unwrap_or(false).to_string(),
        ),
    ];
    let vms: Vec<String> = st["recordedVmDisks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["vmid"].as_u64().map(|id| id.to_string()))
        .collect();
    if !vms.is_empty() {
        lines.push(("VM configs recorded".into(), vms.join(", ")));
    }
    lines
}

fn mount_lines(v: &Value) -> Vec<(String, String)> {
    let st = &v["status"];
    let s = |key: &str| view::or_dash(st[key].as_str());
    let source = v["spec"]["volumeSnapshotRef"]["name"]
        .as_str()
        .map(|n| format!("VolumeSnapshot {n}"))
        .unwrap_or_else(|| {
            format!(
                "{} of storage {}",
                v["spec"]["source"]["snapshotName"].as_str().unwrap_or("?"),
                v["spec"]["source"]["storage"].as_str().unwrap_or("?")
            )
        });
    vec![
        ("Snapshot".to_owned(), source),
        ("Proxmox storage".into(), s("storageId")),
        ("ProxmoxCluster".into(), s("proxmoxCluster")),
        (
            "FlexClone".into(),
            format!("{} ({})", s("cloneVolumeName"), s("cloneVolumeUuid")),
        ),
        ("Junction".into(), s("junctionPath")),
        ("NFS server".into(), s("server")),
        (
            "Parent".into(),
            format!("{} @ {}", s("parentVolume"), s("parentSnapshot")),
        ),
        (
            "Split".into(),
            st["splitComplete"].as_bool().unwrap_or(false).to_string(),
        ),
    ]
}

async fn show_snapshot(ctx: &Ctx, s: &VolumeSnapshot) -> anyhow::Result<()> {
    let v = serde_json::to_value(s)?;
    show_object(ctx, "VolumeSnapshot", &v, snapshot_lines)?;
    if ctx.global.output.is_some() {
        return Ok(());
    }
    let name = s.name_any();
    let mounts = lookup::list::<FlexCloneMount>(ctx).await?;
    let used: Vec<String> = lookup::mounts_of(&mounts, &name)
        .into_iter()
        .map(lookup::mount_label)
        .collect();
    print_pairs(&[("Mounted as".into(), view::or_dash(Some(&used.join(", "))))]);
    let restores: Vec<String> = lookup::list::<VolumeSnapshotRestore>(ctx)
        .await?
        .into_iter()
        .filter(|r| {
            r.spec
                .volume_snapshot_ref
                .as_ref()
                .is_some_and(|x| x.name == name)
        })
        .map(|r| {
            let v = serde_json::to_value(&r).unwrap_or_default();
            format!(
                "{} ({})",
                r.name_any(),
                view::or_dash(v["status"]["stage"].as_str())
            )
        })
        .collect();
    if !restores.is_empty() {
        print_pairs(&[("Restores".into(), restores.join(", "))]);
    }
    Ok(())
}

/// What our objects' status knows about a Proxmox storage: its ONTAP volume, snapshots and mounts.
async fn show_storage(ctx: &Ctx, storage: &str) -> anyhow::Result<()> {
    let of_storage = |v: &Value| {
        v["spec"]["storage"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(storage))
    };
    let snaps: Vec<Value> = lookup::list::<VolumeSnapshot>(ctx)
        .await?
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter(of_storage)
        .collect();
    let mounts: Vec<Value> = lookup::list::<FlexCloneMount>(ctx)
        .await?
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .filter(|m| {
            m["spec"]["source"]["storage"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(storage))
                || m["spec"]["volumeSnapshotRef"]["name"]
                    .as_str()
                    .is_some_and(|n| snaps.iter().any(|s| s["metadata"]["name"] == n))
        })
        .collect();
    let pve = match snaps
        .iter()
        .find_map(|v| v["spec"]["proxmoxClusterRef"]["name"].as_str())
    {
        Some(p) => Some(p.to_owned()),
        None => ctx.proxmox().await.ok(),
    };
    let found = discovery::load(ctx).await;
    let discovered = pve.as_deref().and_then(|p| found.storage(p, storage));
    if snaps.is_empty() && mounts.is_empty() && discovered.is_none() {
        return Err(fail(format!(
            "nothing in namespace {} is named {storage:?}: no VolumeSnapshot, no FlexCloneMount, and no \
             snapshot of a storage of that id (`kubectl pveontap storage list`; take one with \
             `kubectl pveontap storage snapshot {storage}`)",
            ctx.namespace
        )));
    }
    if let Some(output) = ctx.global.output {
        let all: Vec<Value> = snaps
            .into_iter()
            .chain(mounts)
            .chain(discovered.and_then(|d| serde_json::to_value(d).ok()))
            .collect();
        return submit::print_objects(output, &all);
    }
    if let Some(d) = discovered {
        return show_discovered(&snaps, &mounts, d, storage);
    }
    if let Some(note) = pve.as_deref().and_then(|p| found.missing_note(p, storage)) {
        eprintln!("{note}");
    }
    // The volume as the newest resolved snapshot saw it.
    let resolved = snaps
        .iter()
        .filter(|s| s["status"]["volumeUuid"].is_string())
        .max_by_key(|s| taken_at(s));
    let s = |key: &str| view::or_dash(resolved.and_then(|r| r["status"][key].as_str()));
    print_pairs(&[
        ("Storage".into(), storage.to_owned()),
        (
            "ProxmoxCluster".into(),
            view::or_dash(
                snaps
                    .first()
                    .and_then(|v| v["spec"]["proxmoxClusterRef"]["name"].as_str()),
            ),
        ),
        (
            "ONTAP volume".into(),
            format!("{} ({})", s("volumeName"), s("volumeUuid")),
        ),
        ("SVM".into(), s("svm")),
        ("OntapCluster".into(), s("ontapCluster")),
        ("Snapshots".into(), snaps.len().to_string()),
        ("Mounts".into(), mounts.len().to_string()),
    ]);
    let now = Utc::now();
    if !snaps.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = snaps
            .iter()
            .map(|v| {
                vec![
                    view::name(v).to_owned(),
                    view::or_dash(v["status"]["snapshotName"].as_str()),
                    view::age(taken_at(v), now),
                    view::common(v).phase,
                ]
            })
            .collect();
        print!(
            "{}",
            view::table(&["SNAPSHOT", "ONTAP SNAPSHOT", "AGE", "PHASE"], &rows)
        );
    }
    print_mounts(&mounts);
    Ok(())
}

/// `storage show` with discovery: the volume as ONTAP reports it and every snapshot of it, ours or not.
fn show_discovered(
    snaps: &[Value],
    mounts: &[Value],
    d: &pve_ontap_controller::api::OntapStorage,
    storage: &str,
) -> anyhow::Result<()> {
    let Some(st) = d.status.as_ref() else {
        return Ok(());
    };
    let space = st.space.clone().unwrap_or_default();
    let ready = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "-".into(), |c| format!("{} ({})", c.status, c.reason));
    print_pairs(&[
        ("Storage".into(), storage.to_owned()),
        ("ProxmoxCluster".into(), st.proxmox_cluster.clone()),
        (
            "NFS".into(),
            format!(
                "{}:{}",
                view::or_dash(st.server.as_deref()),
                view::or_dash(st.export.as_deref())
            ),
        ),
        (
            "ONTAP volume".into(),
            format!("{} ({})", st.volume.name, st.volume.uuid),
        ),
        ("SVM".into(), st.svm.clone()),
        ("OntapCluster".into(), st.ontap_cluster.clone()),
        ("State".into(), view::or_dash(st.volume_state.as_deref())),
        ("Size".into(), view::or_dash(space.size.as_deref())),
        ("Used".into(), view::or_dash(space.used.as_deref())),
        (
            "Saved by sharing".into(),
            view::or_dash(space.saved_by_sharing.as_deref()),
        ),
        (
            "Snapshots".into(),
            format!(
                "{} ({} not managed by any object)",
                st.snapshot_count, st.unmanaged_snapshot_count
            ),
        ),
        ("Mounts".into(), mounts.len().to_string()),
        (
            "Discovery".into(),
            format!(
                "{ready}, refreshed {} ago",
                view::age(
                    view::time(&serde_json::to_value(&st.refreshed_at)?),
                    Utc::now()
                )
            ),
        ),
    ]);
    if !st.snapshots.is_empty() {
        println!();
        let now = Utc::now();
        let object_of = |uuid: &str| {
            snaps
                .iter()
                .find(|v| v["status"]["snapshotUuid"].as_str() == Some(uuid))
                .and_then(|v| v["metadata"]["name"].as_str())
                .map(str::to_owned)
        };
        let rows: Vec<Vec<String>> = st
            .snapshots
            .iter()
            .map(|s| {
                let created = s
                    .create_time
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc));
                vec![
                    s.name.clone(),
                    view::or_dash(object_of(&s.uuid).as_deref()),
                    view::age(created, now),
                    discovery::size(s),
                    discovery::origin(s).to_owned(),
                    discovery::managed_by(s),
                    discovery::clones(s),
                ]
            })
            .collect();
        print!(
            "{}",
            view::table(
                &[
                    "ONTAP SNAPSHOT",
                    "OBJECT",
                    "AGE",
                    "SIZE",
                    "ORIGIN",
                    "MANAGED BY",
                    "FLEXCLONES"
                ],
                &rows
            )
        );
    }
    print_mounts(mounts);
    Ok(())
}

/// The FlexCloneMounts of a storage as a table (nothing when there are none).
fn print_mounts(mounts: &[Value]) {
    if mounts.is_empty() {
        return;
    }
    println!();
    let rows: Vec<Vec<String>> = mounts
        .iter()
        .map(|v| {
            vec![
                view::name(v).to_owned(),
                view::or_dash(v["status"]["storageId"].as_str()),
                view::or_dash(v["status"]["cloneVolumeName"].as_str()),
                view::common(v).phase,
            ]
        })
        .collect();
    print!(
        "{}",
        view::table(&["MOUNT", "PROXMOX STORAGE", "FLEXCLONE", "PHASE"], &rows)
    );
}
