//! The scenario: the initial world of both simulated systems plus timing settings.
//!
//! One YAML or JSON document `{ ontap: …, pve: …, timings: { ontap: …, pve: … } }`. The built-in default lives in
//! `sim/scenarios/default.yaml`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ontap::scenario::{OntapScenario, OntapTimings};
use crate::pve::scenario::{PveScenario, PveTimings};

/// The built-in default scenario (see `sim/scenarios/default.yaml`).
pub const DEFAULT_SCENARIO_YAML: &str = include_str!("../scenarios/default.yaml");

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub ontap: OntapScenario,
    #[serde(default)]
    pub pve: PveScenario,
    #[serde(default)]
    pub timings: Timings,
    /// Running guests write to their disks before every ONTAP job takes effect (see `guest_io`).
    #[serde(default, rename = "guestWrites")]
    pub guest_writes: bool,
    /// Host names of the world (name → address), e.g. an NFS server name a Proxmox storage uses; what the
    /// site's DNS would answer.
    #[serde(default)]
    pub hosts: std::collections::BTreeMap<String, String>,
}

/// Durations of simulated asynchronous work, per API.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    #[serde(default)]
    pub ontap: OntapTimings,
    #[serde(default)]
    pub pve: PveTimings,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing scenario {origin}: {source}")]
    Parse {
        origin: String,
        source: serde_yaml::Error,
    },
}

impl Scenario {
    /// The built-in default scenario.
    pub fn default_scenario() -> Scenario {
        Self::parse(DEFAULT_SCENARIO_YAML, "built-in default")
            .expect("the built-in default scenario parses")
    }

    /// Parses YAML or JSON (JSON is a subset of YAML 1.2 as far as serde_yaml is concerned).
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        serde_yaml::from_str(text).map_err(|source| ScenarioError::Parse {
            origin: origin.to_string(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

/// Parses a byte size: a plain integer (bytes) or a number with a 1024-based suffix (K, KB, M, MB, G, GB, T, TB, P, PB).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let mult: u64 = match unit.as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        "P" | "PB" | "PIB" => 1 << 50,
        _ => return None,
    };
    if num.contains('.') {
        let v: f64 = num.parse().ok()?;
        Some((v * mult as f64) as u64)
    } else {
        num.parse::<u64>().ok()?.checked_mul(mult)
    }
}

/// A size in a scenario: either a number of bytes or a string such as `32G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s)
                .map(Size)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid size {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32G"), Some(32 << 30));
        assert_eq!(parse_size("8GB"), Some(8 << 30));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("12X"), None);
    }

    #[test]
    fn default_scenario_parses() {
        let s = Scenario::default_scenario();
        assert_eq!(s.ontap.cluster.name, "sim-cluster");
    }
}
