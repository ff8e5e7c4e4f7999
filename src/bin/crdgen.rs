//! Writes one YAML file per CRD into a directory: `cargo run --bin crdgen -- crds/`.
//! With `--check`, compares instead of writing and fails when a file differs (for CI).

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
    for (file, crd) in pve_ontap_controller::api::crds() {
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
    if !stale.is_empty() {
        bail!(
            "CRDs out of date (run `cargo run --bin crdgen -- {}`): {}",
            dir.display(),
            stale.join(", ")
        );
    }
    Ok(())
}
