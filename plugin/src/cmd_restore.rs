//! `storage restore`: a VolumeSnapshotRestore, never without the user's consent.
//!
//! A restore of a storage cannot be undone, and the controller computes what it destroys (`status.plan`) only for
//! an object that exists. So the plugin first creates the restore with a confirmation that cannot match (a random
//! name no snapshot has): the controller plans, changes nothing and reports `ConfirmationRequired`. The plan is
//! shown, the user agrees (on a terminal, or beforehand with `--yes`), and only then is `confirmDestroy` set to
//! exactly what the plan destroys; if the plan changes meanwhile the controller asks again and nothing happens.
//! Without a terminal and without `--yes`/`--confirm-destroy` nothing is created at all. A `--vm` restore
//! destroys no snapshot and starts as soon as it exists, so it is confirmed before it is created.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use pve_ontap_controller::api::VolumeSnapshotRestore;
use serde_json::{json, Value};

use crate::cli::StorageRestore;
use crate::context::{api_error, fail, Ctx};
use crate::follow::{follow, until_ready, Verdict};
use crate::manifests::{self, RestoreRequest, SnapshotRef};
use crate::submit::{self, FIELD_MANAGER};
use crate::{lookup, view};

/// Reasons the controller holds a restore for a person to act on; following it longer would only wait.
const NEEDS_A_PERSON: [&str; 4] = [
    "ConfirmationRequired",
    "NewerSnapshotInUse",
    "VmsRunning",
    "VmPolicyUnmet",
];

pub async fn run(ctx: &Ctx, args: &StorageRestore) -> anyhow::Result<()> {
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
    // `-` confirms explicitly that nothing is destroyed.
    let confirm: Vec<String> = args
        .confirm_destroy
        .iter()
        .filter(|s| *s != "-")
        .cloned()
        .collect();
    let explicit = !args.confirm_destroy.is_empty();
    let request = |confirm: &[String]| -> anyhow::Result<VolumeSnapshotRestore> {
        manifests::volume_snapshot_restore(
            &RestoreRequest {
                snapshot: &snapshot,
                vm: args.vm,
                restore_config: args.restore_config,
                restart_vms: args.restart_vms,
                shutdown_timeout: args.shutdown_timeout,
                confirm,
                object_name: args.object_name.as_deref(),
            },
            ctx.manifest_namespace(),
            Utc::now(),
        )
    };
    // Printed or dry-run manifests carry only what the user confirmed by name.
    if ctx.global.output.is_some() || ctx.global.server_dry_run() {
        submit::create(ctx, &request(&confirm)?).await?;
        return Ok(());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !explicit && !terminal {
        return Err(fail(
            "refusing to restore without confirmation: a restore cannot be undone, and this is no terminal to \
             ask on. Nothing was created. Look at the plan on a terminal, or pass --yes (accept whatever the plan \
             destroys) or --confirm-destroy SNAPSHOTS (exactly those; `-` for none)",
        ));
    }
    if let Some(vmid) = args.vm {
        return restore_vm(ctx, args, vmid, &snapshot, request(&[])?).await;
    }
    if explicit {
        let created = submit::create(ctx, &request(&confirm)?).await?;
        return match created {
            Some(obj) => carry_out(ctx, &obj.name_any()).await,
            None => Ok(()),
        };
    }
    let placeholder = vec![format!(
        "pveontap-plan-only-{}",
        uuid::Uuid::new_v4().simple()
    )];
    let Some(obj) = submit::create(ctx, &request(&placeholder)?).await? else {
        return Ok(());
    };
    let name = obj.name_any();
    match plan_and_confirm(ctx, args, &name, &placeholder).await {
        Ok(()) => carry_out(ctx, &name).await,
        Err(e) => {
            // Nothing was requested from ONTAP yet: the plan-only object goes again.
            remove(ctx, &name).await;
            Err(e)
        }
    }
}

/// Waits for the plan, shows it, asks, and writes the confirmation.
async fn plan_and_confirm(
    ctx: &Ctx,
    args: &StorageRestore,
    name: &str,
    placeholder: &[String],
) -> anyhow::Result<()> {
    let planned = |o: Option<&Value>| -> Verdict {
        let Some(o) = o else {
            return Verdict::Failed(format!("VolumeSnapshotRestore {name} was deleted"));
        };
        let c = view::common(o);
        if c.is_failed() {
            return Verdict::Failed(format!(
                "the restore cannot be done ({}): {}",
                c.reason(),
                c.detail()
            ));
        }
        if c.current && NEEDS_A_PERSON.contains(&c.reason()) && o["status"]["plan"].is_object() {
            Verdict::Done
        } else {
            Verdict::Continue
        }
    };
    let obj = follow::<VolumeSnapshotRestore>(ctx, name, planned)
        .await?
        .expect("a planned object");
    let c = view::common(&obj);
    if c.reason() == "NewerSnapshotInUse" {
        return Err(fail(format!(
            "the restore cannot be done now: {}; nothing was changed",
            c.detail()
        )));
    }
    let plan = &obj["status"]["plan"];
    eprint!("{}", describe_plan(&obj, args.restart_vms));
    let running: Vec<String> = vmids(plan);
    if !args.restart_vms && !running.is_empty() {
        return Err(fail(format!(
            "VMs {} run with disks on the storage; stop them first or pass --restart-vms (shut down cleanly, \
             started again after the restore). Nothing was changed",
            running.join(", ")
        )));
    }
    if !args.yes && !ask("Restore? This cannot be undone. Type 'yes' to go ahead: ")? {
        return Err(fail("restore cancelled; nothing was changed"));
    }
    let destroys: Vec<String> = plan["destroys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect();
    debug_assert!(destroys.iter().all(|d| !placeholder.contains(d)));
    ctx.api::<VolumeSnapshotRestore>()
        .patch(
            name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(json!({ "spec": { "confirmDestroy": destroys } })),
        )
        .await
        .map_err(|e| api_error(&format!("confirming VolumeSnapshotRestore {name}"), e))?;
    eprintln!(
        "confirmed: {}",
        if destroys.is_empty() {
            "(no snapshot destroyed)".into()
        } else {
            destroys.join(", ")
        }
    );
    Ok(())
}

/// A `--vm` restore: asked before it is created, as it starts at once.
async fn restore_vm(
    ctx: &Ctx,
    args: &StorageRestore,
    vmid: u32,
    snapshot: &SnapshotRef,
    obj: VolumeSnapshotRestore,
) -> anyhow::Result<()> {
    let what = match snapshot {
        SnapshotRef::Object(n) => format!("VolumeSnapshot {n}"),
        SnapshotRef::Foreign {
            storage, snapshot, ..
        } => format!("snapshot {snapshot} of storage {storage}"),
    };
    eprintln!(
        "Restore of VM {vmid} from {what}: every disk file of the VM that the snapshot holds is put back over the \
         live file{}; other VMs and snapshots stay as they are. {}",
        if args.restore_config { ", and the disk entries of its config as recorded" } else { "" },
        if args.restart_vms {
            "A running VM is shut down cleanly and started again."
        } else {
            "The VM must be stopped."
        }
    );
    if !args.yes && !ask("Restore? This cannot be undone. Type 'yes' to go ahead: ")? {
        return Err(fail("restore cancelled; nothing was created"));
    }
    match submit::create(ctx, &obj).await? {
        Some(created) => carry_out(ctx, &created.name_any()).await,
        None => Ok(()),
    }
}

/// Follows a confirmed restore to the end; a hold that needs a person ends the wait with its message.
async fn carry_out(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    if !ctx.global.wait() {
        return Ok(());
    }
    let ready = until_ready("VolumeSnapshotRestore", name);
    let held = std::cell::Cell::new(false);
    let verdict = |o: Option<&Value>| match ready(o) {
        Verdict::Continue => {
            let c = o.map(view::common).unwrap_or_default();
            if c.current && NEEDS_A_PERSON.contains(&c.reason()) {
                held.set(true);
                Verdict::Failed(format!(
                    "VolumeSnapshotRestore {name} is held ({}): {}. Nothing was restored, and the restore was \
                     deleted so that it cannot start later unattended; run the command again once that is \
                     resolved",
                    c.reason(),
                    c.detail()
                ))
            } else {
                Verdict::Continue
            }
        }
        other => other,
    };
    let done = match follow::<VolumeSnapshotRestore>(ctx, name, verdict).await {
        Ok(done) => done.unwrap_or_default(),
        Err(e) => {
            if held.get() {
                remove(ctx, name).await;
            }
            return Err(e);
        }
    };
    println!("volumesnapshotrestore/{name} is Ready");
    let st = &done["status"];
    let list = |key: &str| -> Vec<String> {
        st[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect()
    };
    for (label, key) in [
        ("destroyed snapshots", "destroyedSnapshots"),
        ("files restored", "filesRestored"),
    ] {
        let items = list(key);
        if !items.is_empty() {
            println!("  {label}: {}", items.join(", "));
        }
    }
    for vm in st["vmsWithMissingDisks"].as_array().into_iter().flatten() {
        println!(
            "  WARNING: VM {} references disk files the restore removed: {}",
            vm["vmid"], vm["disks"]
        );
    }
    Ok(())
}

fn vmids(plan: &Value) -> Vec<String> {
    plan["stops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["vmid"].as_u64().map(|id| id.to_string()))
        .collect()
}

/// The plan in words, for the person who decides.
pub fn describe_plan(obj: &Value, restart_vms: bool) -> String {
    let st = &obj["status"];
    let plan = &st["plan"];
    let s = |key: &str| st[key].as_str().unwrap_or("?").to_owned();
    let mut out = format!(
        "Restore of storage {} (ONTAP volume {} on SVM {}, OntapCluster {}) to snapshot {}:\n",
        s("storage"),
        s("volumeName"),
        s("svm"),
        s("ontapCluster"),
        s("snapshotName")
    );
    out.push_str("  every VM disk on the storage goes back to the snapshot's state\n");
    let destroys: Vec<&Value> = plan["destroys"].as_array().into_iter().flatten().collect();
    if destroys.is_empty() {
        out.push_str("  destroys no snapshot (none is newer)\n");
    } else {
        out.push_str(&format!(
            "  destroys {} newer snapshot(s):\n",
            destroys.len()
        ));
        for d in destroys {
            let managed = d["volumeSnapshot"]
                .as_str()
                .map(|n| format!("  (VolumeSnapshot {n})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {}  {}{managed}\n",
                d["name"].as_str().unwrap_or("?"),
                d["createTime"].as_str().unwrap_or("-")
            ));
        }
    }
    let vms = vmids(plan);
    match (vms.is_empty(), restart_vms) {
        (true, _) => out.push_str("  no VM with a disk on the storage runs\n"),
        (false, true) => out.push_str(&format!(
            "  shuts down and starts again VMs {}\n",
            vms.join(", ")
        )),
        (false, false) => out.push_str(&format!(
            "  VMs {} run and must be stopped first\n",
            vms.join(", ")
        )),
    }
    out
}

/// Asks on the terminal; only `yes` agrees.
fn ask(prompt: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Deletes a restore that was only planned (best effort; said so when it fails).
async fn remove(ctx: &Ctx, name: &str) {
    if let Err(e) = ctx
        .api::<VolumeSnapshotRestore>()
        .delete(name, &DeleteParams::default())
        .await
    {
        eprintln!("could not delete the planned VolumeSnapshotRestore {name} ({e}); delete it with kubectl delete vsr {name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_names_what_goes_and_who_stops() {
        let obj = json!({ "status": {
            "storage": "ONTAP01", "volumeName": "pve_images", "svm": "svm1", "ontapCluster": "ontap",
            "snapshotName": "before",
            "plan": { "destroys": [{ "name": "after", "createTime": "2026-01-05T12:00:00Z", "volumeSnapshot": "after-obj" }],
                      "stops": [{ "vmid": 100, "node": "pve1" }] } } });
        let text = describe_plan(&obj, true);
        assert!(text.contains("to snapshot before"), "{text}");
        assert!(
            text.contains("after  2026-01-05T12:00:00Z  (VolumeSnapshot after-obj)"),
            "{text}"
        );
        assert!(
            text.contains("shuts down and starts again VMs 100"),
            "{text}"
        );
        let text = describe_plan(&obj, false);
        assert!(
            text.contains("VMs 100 run and must be stopped first"),
            "{text}"
        );
    }
}
