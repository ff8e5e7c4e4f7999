//! Where the provisioned binaries and the repository's inputs (CRDs, chart) live.
//!
//! The tool cache sits outside the checkout so that fresh clones (CI) reuse the one-off kube-apiserver build;
//! `scripts/provision.sh` fills it with the same layout that is computed here.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const VERSIONS_ENV: &str = include_str!("../../scripts/versions.env");

/// A pinned version from `scripts/versions.env`, the single source of truth shared with the shell scripts.
pub fn pinned_version(key: &str) -> Option<&'static str> {
    VERSIONS_ENV.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// `$PVE_ONTAP_CACHE`, else `$HOME/.cache/pve-ontap-controller`.
pub fn tool_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("PVE_ONTAP_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("pve-ontap-controller")
}

/// Directory holding kube-apiserver, etcd and kubectl for the pinned Kubernetes version.
pub fn kube_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PVE_ONTAP_KUBE_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let version = pinned_version("KUBE_VERSION").unwrap_or("unknown");
    tool_cache().join(format!("kube-{version}")).join("bin")
}

/// The helm binary: `$HELM`, else the provisioned one, else whatever `helm` is on PATH.
pub fn helm_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let version = pinned_version("HELM_VERSION").unwrap_or("unknown");
    let cached = tool_cache()
        .join(format!("helm-{version}"))
        .join("bin")
        .join("helm");
    if cached.is_file() {
        cached
    } else {
        PathBuf::from("helm")
    }
}

pub(crate) fn require_binary(name: &'static str) -> Result<PathBuf> {
    let path = kube_bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary {
            what: name,
            path,
            env_var: "PVE_ONTAP_KUBE_BIN",
        })
    }
}

/// The cargo workspace root (testkit always lives at `<root>/testkit`).
pub fn workspace_root() -> PathBuf {
    // Cargo names the package under test at run time. The compile-time path is only the fallback: a target
    // directory shared by two checkouts reuses one build of this crate, which would read the other checkout's
    // files (its CRDs, its chart).
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| compiled.to_path_buf());
    start
        .ancestors()
        .find(|d| d.join("crds").is_dir() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .or_else(|| compiled.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `<root>/crds`, overridable with `PVE_ONTAP_CRD_DIR`.
pub fn crd_dir() -> PathBuf {
    std::env::var_os("PVE_ONTAP_CRD_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("crds"))
}

/// `<root>/charts/pve-ontap-controller`.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("pve-ontap-controller")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_env_is_parsed() {
        let kube = pinned_version("KUBE_VERSION").expect("KUBE_VERSION pinned");
        assert!(kube.starts_with("v1."), "unexpected KUBE_VERSION {kube}");
        assert!(pinned_version("HELM_VERSION").is_some());
        assert_eq!(pinned_version("NO_SUCH_KEY"), None);
    }
}
