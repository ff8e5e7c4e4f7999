//! Writes one YAML file per CRD into a directory: `cargo run --bin crdgen -- crds/`.
//! With `--check`, compares instead of writing and fails when a file differs or when a field under `spec` or
//! `status` has no description (for CI; descriptions come from the doc comments in `src/api`).

use std::path::PathBuf;

use anyhow::{bail, Context};

fn main() -> anyhow::Result<()> {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: crdgen [--check] <directory>");
                return Ok(());
            }
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument {arg:?}; usage: crdgen [--check] <directory>"),
        }
    }
    let dir = dir.context("usage: crdgen [--check] <directory>")?;
    if !check {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let mut stale = Vec::new();
    let mut undescribed = Vec::new();
    for (file, crd) in pve_ontap_controller::api::crds() {
        undescribed.extend(pve_ontap_controller::api::undescribed_fields(&crd));
        let yaml = pve_ontap_controller::api::crd_yaml(&crd).context("serialising CRD")?;
        let path = dir.join(file);
        if check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != yaml {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    let mut problems = Vec::new();
    if !stale.is_empty() {
        problems.push(format!(
            "CRDs out of date (run `cargo run --bin crdgen -- {}`): {}",
            dir.display(),
            stale.join(", ")
        ));
    }
    if !undescribed.is_empty() {
        let report = format!(
            "{} field(s) without a description (add a doc comment to the field in src/api):\n  {}",
            undescribed.len(),
            undescribed.join("\n  ")
        );
        if check {
            problems.push(report);
        } else {
            eprintln!("warning: {report}");
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}
