//! `vm clone|list|delete`: VmDiskClone objects.

use chrono::Utc;
use kube::ResourceExt;
use pve_ontap_controller::api::VmDiskClone;

use crate::cli::{VmClone, VmCommand};
use crate::context::Ctx;
use crate::{lookup, manifests, submit, view};

pub async fn run(ctx: &Ctx, cmd: &VmCommand) -> anyhow::Result<()> {
    match cmd {
        VmCommand::Clone(args) => clone(ctx, args).await,
        VmCommand::List { vmid } => list(ctx, *vmid).await,
        VmCommand::Delete { name } => submit::delete::<VmDiskClone>(ctx, name).await,
    }
}

async fn clone(ctx: &Ctx, args: &VmClone) -> anyhow::Result<()> {
    let proxmox = ctx.proxmox().await?;
    let obj = manifests::vm_disk_clone(args, &proxmox, ctx.manifest_namespace(), Utc::now())?;
    let Some(done) = submit::create_and_follow(ctx, &obj).await? else {
        return Ok(());
    };
    // What the user needs next: where the copies are.
    for d in done["status"]["disks"].as_array().into_iter().flatten() {
        let at = d["cloneVolumeId"]
            .as_str()
            .or(d["clonePath"].as_str())
            .unwrap_or("?");
        let key = d["configKey"]
            .as_str()
            .map(|k| format!(" as {k}"))
            .unwrap_or_default();
        println!("  {} -> {at}{key}", d["drive"].as_str().unwrap_or("?"));
    }
    if let Some(vmid) = done["status"]["newVmid"].as_u64() {
        println!("  new VM {vmid}");
    }
    if let Some(m) = done["status"]["copyPoint"]["message"].as_str() {
        println!("  {m}");
    }
    Ok(())
}

async fn list(ctx: &Ctx, vmid: Option<u32>) -> anyhow::Result<()> {
    let mut clones = lookup::list::<VmDiskClone>(ctx).await?;
    clones.retain(|c| vmid.is_none_or(|v| c.spec.vmid == v));
    clones.sort_by_key(|c| view::created(&serde_json::to_value(c).unwrap_or_default()));
    if let Some(output) = ctx.global.output {
        let values = clones
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        return submit::print_objects(output, &values);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = clones
        .iter()
        .map(|c| {
            let v = serde_json::to_value(c).unwrap_or_default();
            let st = &v["status"];
            let disks: Vec<&str> = st["disks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["drive"].as_str())
                .collect();
            vec![
                c.name_any(),
                c.spec.vmid.to_string(),
                view::or_dash(st["consistencyApplied"].as_str()),
                format!("{:?}", c.spec.attach),
                view::or_dash(Some(&disks.join(","))),
                view::common(&v).phase,
                view::age(view::created(&v), now),
            ]
        })
        .collect();
    print!(
        "{}",
        view::table(
            &[
                "NAME",
                "VM",
                "CONSISTENCY",
                "ATTACH",
                "DISKS",
                "PHASE",
                "AGE"
            ],
            &rows
        )
    );
    Ok(())
}
